// The exobot chat widget: a launcher button and a chat panel in a shadow root, talking to Rasa's socket.io.
// Protocol (Rasa socket.io channel with session_persistence): on every (re)connect emit
// `session_request` {session_id}; the server answers `session_confirm` with the id; each `user_uttered`
// carries {message, session_id}; each answer arrives as one `bot_uttered` {text, custom: contract payload}.

var REPLY_TIMEOUT_MS = 60000;

function Widget(options) {
  this.options = options;
  this.store = new Store(options.server);
  this.lang = this.store.state.lang || options.lang;
  this.debug = options.debug;
  this.outbox = [];
  this.confirmed = false;
  this.waiting = 0;
  this.replyTimer = null;
  this.build();
  this.restore();
  this.connect();
  if (options.open) this.setOpen(true, false);
}

Widget.prototype.build = function () {
  var self = this;
  this.host = el("div", { id: "exobot-widget" });
  var shadow = this.host.attachShadow({ mode: "open" });
  shadow.appendChild(el("style", null, WIDGET_CSS));
  this.root = append(el("div", { className: "exo-root" }));
  shadow.appendChild(this.root);

  this.launcher = el("button", { type: "button", className: "exo-launcher", "aria-expanded": "false", "aria-controls": "exo-panel" });
  this.launcherLabel = el("span", { className: "exo-launcher-label" });
  append(this.launcher, chatIcon(), this.launcherLabel);
  this.launcher.addEventListener("click", function () { self.setOpen(!self.isOpen(), true); });

  this.panel = el("section", { id: "exo-panel", className: "exo-panel", role: "dialog", "aria-labelledby": "exo-title", hidden: true });
  this.title = el("h2", { id: "exo-title", className: "exo-title" });
  this.subtitle = el("p", { className: "exo-subtitle" });
  this.status = el("p", { className: "exo-status", role: "status", "aria-live": "polite" });
  this.langButton = el("button", { type: "button", className: "exo-lang" });
  this.langButton.addEventListener("click", function () { self.switchLang(); });
  this.newButton = el("button", { type: "button", className: "exo-new" });
  this.newButton.addEventListener("click", function () { self.newChat(); });
  this.closeButton = el("button", { type: "button", className: "exo-close" }, "×");
  this.closeButton.addEventListener("click", function () { self.setOpen(false, true); });
  var header = append(el("header", { className: "exo-header" }),
    append(el("div", { className: "exo-heading" }), this.title, this.subtitle, this.status),
    append(el("div", { className: "exo-tools" }), this.langButton, this.newButton, this.closeButton));

  this.log = el("div", { className: "exo-log", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0" });
  this.intro = el("div", { className: "exo-intro" });
  this.messages = el("div", { className: "exo-messages" });
  append(this.log, this.intro, this.messages);

  this.typing = el("div", { className: "exo-typing", hidden: true, "aria-hidden": "true" });
  append(this.typing, append(el("span", { className: "exo-dots", "aria-hidden": "true" }, el("i"), el("i"), el("i")), el("span", { className: "exo-typing-text" })));

  this.form = el("form", { className: "exo-form" });
  this.inputLabel = el("label", { for: "exo-input", className: "exo-sr" });
  this.input = el("textarea", { id: "exo-input", className: "exo-input", rows: "1", maxlength: WIDGET_DATA.maxMessageChars, autocomplete: "off" });
  this.sendButton = el("button", { type: "submit", className: "exo-send" });
  append(this.form, this.inputLabel, this.input, this.sendButton);
  this.form.addEventListener("submit", function (event) {
    event.preventDefault();
    self.sendTyped();
  });
  this.input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      self.sendTyped();
    }
  });

  this.refCard = el("div", { className: "exo-ref", role: "dialog", "aria-modal": "true", "aria-labelledby": "exo-ref-heading", hidden: true });
  this.refContent = el("div");
  this.refClose = el("button", { type: "button", className: "exo-ref-close" });
  this.refClose.addEventListener("click", function () { self.closeReference(); });
  append(this.refCard, append(el("div", { className: "exo-ref-box" }), this.refContent, this.refClose));

  this.announcer = el("p", { className: "exo-sr", "aria-live": "polite" });

  append(this.panel, header, this.log, this.typing, this.announcer, this.form, this.refCard);
  append(this.root, this.panel, this.launcher);
  this.root.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    if (!self.refCard.hidden) self.closeReference();
    else if (self.isOpen()) self.setOpen(false, true);
  });
  this.applyLang();
  document.body.appendChild(this.host);
};

/** Set every string of the widget's own interface in the current UI language. */
Widget.prototype.applyLang = function () {
  var lang = this.lang;
  this.root.setAttribute("lang", lang);
  this.title.textContent = this.options.title || t(lang, "title");
  this.subtitle.textContent = t(lang, "subtitle");
  this.launcherLabel.textContent = t(lang, "launcher");
  this.launcher.setAttribute("aria-label", this.isOpen() ? t(lang, "close") : t(lang, "open"));
  this.langButton.textContent = t(lang, "switch_lang");
  this.langButton.setAttribute("aria-label", t(lang, "switch_lang_label"));
  this.newButton.textContent = t(lang, "new_chat");
  this.newButton.setAttribute("aria-label", t(lang, "new_chat_label"));
  this.closeButton.setAttribute("aria-label", t(lang, "close"));
  this.inputLabel.textContent = t(lang, "input_label");
  this.input.setAttribute("placeholder", t(lang, "placeholder"));
  this.sendButton.textContent = t(lang, "send");
  this.typing.lastChild.textContent = t(lang, "typing");
  this.refClose.textContent = t(lang, "close_reference");
  this.renderIntro();
  this.showStatus(this.statusKey || "connecting");
};

Widget.prototype.renderIntro = function () {
  var self = this;
  this.intro.textContent = "";
  this.intro.appendChild(el("p", { className: "exo-intro-text" }, t(this.lang, "intro")));
  if (this.store.state.messages.length) return;
  var starters = WIDGET_DATA.starters[this.lang] || [];
  var group = el("div", { className: "exo-suggestions exo-starters", role: "group", "aria-label": t(this.lang, "suggestions") });
  starters.forEach(function (question) {
    var button = el("button", { type: "button", className: "exo-suggestion" }, question);
    button.addEventListener("click", function () { self.send(question); });
    group.appendChild(button);
  });
  this.intro.appendChild(group);
};

Widget.prototype.switchLang = function () {
  var chinese = this.options.lang === "en" ? "zh-Hans" : this.options.lang;
  this.lang = this.lang === "en" ? chinese : "en";
  this.store.state.lang = this.lang;
  this.store.save();
  this.applyLang();
};

Widget.prototype.isOpen = function () {
  return !this.panel.hidden;
};

Widget.prototype.setOpen = function (open, moveFocus) {
  this.panel.hidden = !open;
  this.root.classList.toggle("exo-open", open);
  this.launcher.setAttribute("aria-expanded", open ? "true" : "false");
  this.launcher.setAttribute("aria-label", open ? t(this.lang, "close") : t(this.lang, "open"));
  if (open) {
    this.scrollDown();
    if (moveFocus) this.input.focus();
  } else {
    this.closeReference();
    if (moveFocus) this.launcher.focus();
  }
};

/** Show the history saved in localStorage (it survives reloads of the page). */
Widget.prototype.restore = function () {
  var self = this;
  this.store.state.messages.forEach(function (entry) { self.messages.appendChild(self.render(entry)); });
};

Widget.prototype.render = function (entry) {
  return entry.from === "user" ? renderUser(entry, this) : renderBot(entry, this);
};

Widget.prototype.addEntry = function (entry) {
  this.store.add(entry);
  if (this.store.state.messages.length === 1) this.renderIntro();
  var node = this.render(entry);
  this.messages.appendChild(node);
  if (entry.from === "bot") this.scrollTo(node);
  else this.scrollDown();
  return node;
};

Widget.prototype.scrollDown = function () {
  this.log.scrollTop = this.log.scrollHeight;
};

/** Scroll so that a new answer is read from its start (it may be taller than the panel). */
Widget.prototype.scrollTo = function (node) {
  this.log.scrollTop = Math.min(node.offsetTop - 8, this.log.scrollHeight);
};

Widget.prototype.sendTyped = function () {
  var text = this.input.value.trim();
  if (!text) return;
  this.input.value = "";
  this.send(text);
};

/** Send a message (typed, a suggestion or a starter); queued while the connection is down. */
Widget.prototype.send = function (text) {
  this.addEntry({ from: "user", text: text });
  if (this.confirmed && this.socket.connected) this.emitMessage(text);
  else {
    this.outbox.push(text);
    this.showStatus("queued");
  }
  this.input.focus();
};

/** Rate an answer: kept with its entry (shown pressed after a reload) and sent as a `feedback` event,
 * which socket.io buffers while the connection is down. */
Widget.prototype.rate = function (entry, rating, reason) {
  entry.feedback = { rating: rating, reason: reason || null };
  this.store.save();
  this.socket.emit("feedback", {
    session_id: this.store.state.sessionId, rating: rating, answer: entry.text, reason: reason || "",
  });
};

/** Send one message on the confirmed session; the typing indicator shows until the answer arrives. */
Widget.prototype.emitMessage = function (text) {
  this.socket.emit("user_uttered", { message: text, session_id: this.store.state.sessionId });
  this.setWaiting(this.waiting + 1);
};

Widget.prototype.setWaiting = function (count) {
  var self = this;
  this.waiting = Math.max(0, count);
  this.typing.hidden = this.waiting === 0;
  this.announcer.textContent = this.waiting ? t(this.lang, "typing") : "";
  clearTimeout(this.replyTimer);
  if (this.waiting) {
    this.scrollDown();
    this.replyTimer = setTimeout(function () {
      self.setWaiting(0);
      self.showStatus("no_reply");
    }, REPLY_TIMEOUT_MS);
  }
};

Widget.prototype.showStatus = function (key) {
  this.statusKey = key;
  this.status.textContent = t(this.lang, key);
  this.root.setAttribute("data-status", key);
};

Widget.prototype.connect = function () {
  var self = this;
  this.showStatus("connecting");
  this.socket = io(this.options.server, { path: this.options.socketPath, reconnectionDelayMax: 5000 });
  this.socket.on("connect", function () {
    self.confirmed = false;
    self.socket.emit("session_request", { session_id: self.store.state.sessionId });
  });
  this.socket.on("session_confirm", function (data) {
    var id = typeof data === "string" ? data : data && data.session_id;
    if (id && id !== self.store.state.sessionId) {
      self.store.state.sessionId = id;
      self.store.save();
    }
    self.confirmed = true;
    self.showStatus("connected");
    var queued = self.outbox.splice(0);
    queued.forEach(function (text) { self.emitMessage(text); });
  });
  this.socket.on("bot_uttered", function (data) { self.receive(data); });
  this.socket.on("disconnect", function () {
    self.confirmed = false;
    self.setWaiting(0);
    self.showStatus("reconnecting");
  });
  this.socket.on("connect_error", function () {
    self.confirmed = false;
    self.showStatus("reconnecting");
  });
};

/** One bot message: `{text, custom}` from our channel (plain `{text}` or quick replies also work). */
Widget.prototype.receive = function (data) {
  if (!data || typeof data !== "object") return;
  var payload = data.custom && typeof data.custom === "object" ? data.custom : null;
  var text = typeof data.text === "string" ? data.text : "";
  if (!text && !payload) return;
  var entry = { from: "bot", text: text, payload: payload };
  if (Array.isArray(data.quick_replies)) entry.quickReplies = data.quick_replies;
  this.setWaiting(this.waiting - 1);
  if (this.statusKey !== "connected") this.showStatus("connected");
  this.addEntry(entry);
};

Widget.prototype.newChat = function () {
  this.store.clear();
  this.messages.textContent = "";
  this.setWaiting(0);
  this.renderIntro();
  if (this.socket) {
    // A new session id: ask the server for one on a fresh connection.
    this.socket.disconnect();
    this.socket.connect();
  }
  this.input.focus();
};

Widget.prototype.openReference = function (cite, lang, opener) {
  this.refOpener = opener;
  this.refContent.textContent = "";
  this.refContent.appendChild(renderReference(cite, lang));
  this.refCard.setAttribute("lang", lang);
  this.refClose.textContent = t(lang, "close_reference");
  this.refCard.hidden = false;
  this.refClose.focus();
};

Widget.prototype.closeReference = function () {
  if (this.refCard.hidden) return;
  this.refCard.hidden = true;
  if (this.refOpener) this.refOpener.focus();
};

(function start() {
  var script = document.currentScript;
  if (document.getElementById("exobot-widget")) return;
  var boot = function () {
    window.ExobotWidget = new Widget(readOptions(script));
  };
  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();
