// The exobot chat widget: a launcher button and a chat panel in a shadow root. This file is the shell:
// it builds the panel, keeps it in step with the stored conversation (storage.js), shows the connection
// (connection.js) and delivery states, and handles the input, dialogs, focus and unread replies.
// Messages are drawn by render.js, the staff view by staff.js.

function Widget(options) {
  var self = this;
  this.options = options;
  this.store = new Store(options.server, options.historyDays);
  this.lang = this.store.state.lang || options.lang;
  this.debug = options.debug;
  this.nodes = {};
  this.unread = 0;
  this.baseTitle = null;
  this.typingShown = false;
  this.fullScreen = window.matchMedia ? window.matchMedia(FULL_SCREEN_QUERY) : { matches: false };
  this.build();
  this.connection = new Connection(options, this.store, {
    change: function () { self.showStatus(); },
    failed: function () { self.announce(t(self.lang, "failed_notice")); },
  });
  this.store.onChange(function (newConversation, external) {
    if (newConversation || external) self.connection.followSession();
    if (newConversation) self.setUnread(0);
    self.refresh(false);
  });
  this.refresh(true);
  if (this.fullScreen.addEventListener) {
    this.fullScreen.addEventListener("change", function () { self.updateModal(); });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && self.isOpen()) self.setUnread(0);
  });
  if (options.open) this.setOpen(true, false);
}

Widget.prototype.build = function () {
  var self = this;
  this.host = el("div", { id: "exobot-widget" });
  var shadow = this.host.attachShadow({ mode: "open" });
  shadow.appendChild(el("style", null, WIDGET_CSS));
  this.root = append(el("div", { className: "exo-root" }));
  shadow.appendChild(this.root);

  // The launcher's accessible name starts with its visible label; the unread count follows it.
  this.launcher = el("button", { type: "button", className: "exo-launcher", "aria-expanded": "false", "aria-controls": "exo-panel" });
  this.launcherLabel = el("span", { className: "exo-launcher-label" });
  this.launcherMore = el("span", { className: "exo-sr" });
  this.unreadBadge = el("span", { className: "exo-unread", "aria-hidden": "true", hidden: true });
  this.unreadText = el("span", { className: "exo-sr" });
  append(this.launcher, chatIcon(), this.launcherLabel, this.launcherMore, this.unreadBadge, this.unreadText);
  this.launcher.addEventListener("click", function () { self.setOpen(!self.isOpen(), true); });

  this.panel = el("section", { id: "exo-panel", className: "exo-panel", role: "dialog", "aria-labelledby": "exo-title", hidden: true });
  this.title = el("h2", { id: "exo-title", className: "exo-title" });
  this.subtitle = el("p", { className: "exo-subtitle" });
  this.status = el("p", { className: "exo-status", role: "status", "aria-live": "polite" });
  this.langButton = el("button", { type: "button", className: "exo-lang" });
  this.langButton.addEventListener("click", function () { self.switchLang(); });
  this.newButton = el("button", { type: "button", className: "exo-new", "aria-haspopup": "dialog" });
  this.newButton.addEventListener("click", function () {
    self.ask("new_chat", self.newButton, function () { self.newChat(); });
  });
  this.moreButton = el("button", { type: "button", className: "exo-more", "aria-expanded": "false", "aria-controls": "exo-menu" });
  this.moreButton.addEventListener("click", function () { self.setMenu(self.menu.hidden); });
  this.closeButton = el("button", { type: "button", className: "exo-close" });
  this.closeButton.addEventListener("click", function () { self.setOpen(false, true); });
  var header = append(el("header", { className: "exo-header" }),
    append(el("div", { className: "exo-heading" }), this.title, this.subtitle, this.status),
    append(el("div", { className: "exo-tools" }), this.langButton, this.newButton, this.moreButton, this.closeButton));

  this.menu = el("div", { id: "exo-menu", className: "exo-menu", hidden: true });
  this.historyNote = el("p", { className: "exo-menu-note" });
  this.deleteButton = el("button", { type: "button", className: "exo-delete", "aria-haspopup": "dialog" });
  this.deleteButton.addEventListener("click", function () {
    self.ask("delete_history", self.deleteButton, function () { self.deleteHistory(); });
  });
  append(this.menu, this.historyNote, this.deleteButton);

  this.log = el("div", { className: "exo-log", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0" });
  this.intro = el("div", { className: "exo-intro" });
  this.messages = el("div", { className: "exo-messages" });
  append(this.log, this.intro, this.messages);

  this.typing = el("div", { className: "exo-typing", hidden: true, "aria-hidden": "true" });
  append(this.typing, append(el("span", { className: "exo-dots", "aria-hidden": "true" }, el("i"), el("i"), el("i")), el("span", { className: "exo-typing-text" })));

  this.notice = el("p", { className: "exo-notice", role: "status", hidden: true });
  this.form = el("form", { className: "exo-form" });
  this.inputLabel = el("label", { for: "exo-input", className: "exo-sr" });
  this.input = el("textarea", {
    id: "exo-input", className: "exo-input", rows: "1", maxlength: WIDGET_DATA.maxMessageChars,
    autocomplete: "off", "aria-describedby": "exo-counter",
  });
  this.counter = el("p", { id: "exo-counter", className: "exo-counter", hidden: true });
  this.sendButton = el("button", { type: "submit", className: "exo-send" });
  append(this.form, this.inputLabel, append(el("div", { className: "exo-field" }), this.input, this.counter), this.sendButton);
  this.pictures = new Pictures(this);
  this.pictures.build(this.form, this.sendButton);
  this.form.addEventListener("submit", function (event) {
    event.preventDefault();
    self.sendTyped();
  });
  this.input.addEventListener("keydown", function (event) {
    // Enter sends; Shift+Enter starts a new line (the input grows with it).
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      self.sendTyped();
    }
  });
  this.input.addEventListener("input", function () { self.onInput(); });
  this.input.addEventListener("paste", function (event) { self.onPaste(event); });

  // The reference card: a modal dialog over the panel, Close first, focus kept inside while open.
  this.refCard = el("div", { className: "exo-ref", role: "dialog", "aria-modal": "true", "aria-labelledby": "exo-ref-heading", hidden: true });
  this.refBox = el("div", { className: "exo-ref-box" });
  this.refContent = el("div");
  this.refClose = el("button", { type: "button", className: "exo-ref-close" });
  this.refClose.addEventListener("click", function () { self.closeReference(); });
  append(this.refCard, append(this.refBox, this.refClose, this.refContent));
  this.refCard.addEventListener("click", function (event) { if (event.target === self.refCard) self.closeReference(); });

  // The confirmation asked before "new conversation" and "delete my history".
  this.confirmBox = el("div", {
    className: "exo-confirm", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "exo-confirm-title",
    "aria-describedby": "exo-confirm-text", hidden: true,
  });
  this.confirmTitle = el("h3", { id: "exo-confirm-title", className: "exo-confirm-title" });
  this.confirmText = el("p", { id: "exo-confirm-text", className: "exo-confirm-text" });
  this.confirmCancel = el("button", { type: "button", className: "exo-confirm-cancel" });
  this.confirmOk = el("button", { type: "button", className: "exo-confirm-ok" });
  this.confirmCancel.addEventListener("click", function () { self.closeConfirm(false); });
  this.confirmOk.addEventListener("click", function () { self.closeConfirm(true); });
  append(this.confirmBox, append(el("div", { className: "exo-confirm-box" }), this.confirmTitle, this.confirmText,
    append(el("div", { className: "exo-confirm-actions" }), this.confirmCancel, this.confirmOk)));

  this.announcer = el("p", { className: "exo-sr", "aria-live": "polite" });
  this.newTabNote = el("span", { id: "exo-new-tab", hidden: true });

  append(this.panel, header, this.menu, this.log, this.typing, this.announcer, this.newTabNote, this.notice, this.form, this.refCard, this.confirmBox);
  append(this.root, this.panel, this.launcher);
  this.root.addEventListener("keydown", function (event) { self.onKeydown(event); });
  this.root.addEventListener("click", function (event) {
    if (!self.menu.hidden && !self.menu.contains(event.target) && !self.moreButton.contains(event.target)) self.setMenu(false);
  });
  this.applyLang();
  document.body.appendChild(this.host);
};

/** Escape closes the innermost open layer; Tab stays inside a modal layer (and inside the full-screen panel). */
Widget.prototype.onKeydown = function (event) {
  if (event.key === "Escape") {
    if (!this.confirmBox.hidden) this.closeConfirm(false);
    else if (!this.refCard.hidden) this.closeReference();
    else if (!this.menu.hidden) { this.setMenu(false); this.moreButton.focus(); }
    else if (this.isOpen()) this.setOpen(false, true);
    else return;
    event.preventDefault();
  } else if (event.key === "Tab") {
    if (!this.confirmBox.hidden) trapTab(event, this.confirmBox, this.root.getRootNode());
    else if (!this.refCard.hidden) trapTab(event, this.refCard, this.root.getRootNode());
    else if (this.isOpen() && this.fullScreen.matches) trapTab(event, this.panel, this.root.getRootNode());
  }
};

/** Set every string of the widget's own interface in the current UI language. */
Widget.prototype.applyLang = function () {
  var lang = this.lang;
  var other = lang === "en" ? (this.options.lang === "en" ? "zh-Hans" : this.options.lang) : "en";
  this.root.setAttribute("lang", lang);
  this.title.textContent = this.options.title || t(lang, "title");
  this.subtitle.textContent = t(lang, "subtitle");
  this.launcherLabel.textContent = t(lang, "launcher");
  this.launcherMore.textContent = t(lang, "launcher_more");
  // The language button: its visible label (in the other language) starts its accessible name.
  this.langButton.textContent = "";
  append(this.langButton, el("span", { lang: other }, t(lang, "switch_lang")), el("span", { className: "exo-sr" }, t(lang, "switch_lang_label")));
  this.newButton.textContent = t(lang, "new_chat");
  this.moreButton.textContent = "";
  append(this.moreButton, el("span", { "aria-hidden": "true" }, "⋯"), el("span", { className: "exo-sr" }, t(lang, "more")));
  this.closeButton.textContent = "";
  append(this.closeButton, el("span", { "aria-hidden": "true" }, "×"), el("span", { className: "exo-sr" }, t(lang, "close")));
  this.historyNote.textContent = t(lang, "history_note", { days: this.options.historyDays });
  this.deleteButton.textContent = t(lang, "delete_history");
  this.inputLabel.textContent = t(lang, "input_label");
  this.input.setAttribute("placeholder", t(lang, "placeholder"));
  this.sendButton.textContent = t(lang, "send");
  this.pictures.applyLang(lang);
  this.typing.lastChild.textContent = t(lang, "typing");
  this.refClose.textContent = t(lang, "close_reference");
  this.newTabNote.textContent = t(lang, "new_tab");
  this.confirmCancel.textContent = t(lang, "cancel");
  this.setUnread(this.unread);
  this.updateCounter();
  this.renderIntro();
  // Messages carry labels in the UI language (states, "Retry", the staff view): draw them again.
  this.nodes = {};
  this.messages.textContent = "";
  if (this.connection) this.refresh(true);
};

Widget.prototype.renderIntro = function () {
  var self = this;
  this.intro.textContent = "";
  this.intro.appendChild(el("p", { className: "exo-intro-text" }, t(this.lang, "intro")));
  this.introHasStarters = !this.store.state.messages.length;
  if (!this.introHasStarters) return;
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
  this.store.setLang(this.lang);
  this.applyLang();
  this.langButton.focus();
};

Widget.prototype.isOpen = function () {
  return !this.panel.hidden;
};

Widget.prototype.setOpen = function (open, moveFocus) {
  this.panel.hidden = !open;
  this.root.classList.toggle("exo-open", open);
  this.launcher.setAttribute("aria-expanded", open ? "true" : "false");
  this.updateModal();
  if (open) {
    this.scrollDown();
    if (!document.hidden) this.setUnread(0);
    if (moveFocus) this.input.focus();
  } else {
    this.closeReference();
    this.closeConfirm(false, true);
    this.setMenu(false);
    if (moveFocus) this.launcher.focus();
  }
};

/** On a full-screen panel (phones) the panel is modal: focus stays inside it. */
Widget.prototype.updateModal = function () {
  if (this.isOpen() && this.fullScreen.matches) this.panel.setAttribute("aria-modal", "true");
  else this.panel.removeAttribute("aria-modal");
};

Widget.prototype.setMenu = function (open) {
  this.menu.hidden = !open;
  this.moreButton.setAttribute("aria-expanded", open ? "true" : "false");
  if (open) this.deleteButton.focus();
};

Widget.prototype.render = function (entry) {
  var node = entry.from === "user" ? renderUser(entry, this) : renderBot(entry, this);
  if (entry.from === "bot") node.setAttribute("data-render", renderKey(entry));
  return node;
};

/** What a drawn answer depends on besides its text: its rating and the staff view's explanation. */
function renderKey(entry) {
  var rated = entry.feedback ? entry.feedback.rating + ":" + (entry.feedback.reason || "") : "";
  return rated + (entry.why ? "|why" : "");
}

/**
 * Draw the stored conversation: new messages are added in their place, changed delivery states updated,
 * messages gone (a new conversation, another tab) removed. `initial`: the history shown on load.
 */
Widget.prototype.refresh = function (initial) {
  var self = this;
  var desired = this.store.state.lang || this.options.lang;
  if (desired !== this.lang && !initial) {
    this.lang = desired;
    this.applyLang();
    return;
  }
  var seen = {};
  var previous = null;
  var newReplies = [];
  var newQuestion = false;
  this.store.visible().forEach(function (entry) {
    seen[entry.id] = true;
    var node = self.nodes[entry.id];
    if (!node) {
      node = self.render(entry);
      self.nodes[entry.id] = node;
      if (entry.from === "bot") newReplies.push(node);
      else newQuestion = true;
    } else if (entry.from === "user") {
      updateUser(node, entry, self);
    } else if (node.getAttribute("data-render") !== renderKey(entry)) {
      var fresh = self.render(entry);
      node.replaceWith(fresh);
      node = self.nodes[entry.id] = fresh;
    }
    var expected = previous ? previous.nextSibling : self.messages.firstChild;
    if (expected !== node) self.messages.insertBefore(node, expected);
    previous = node;
  });
  Object.keys(this.nodes).forEach(function (id) {
    if (!seen[id]) {
      self.nodes[id].remove();
      delete self.nodes[id];
    }
  });
  if (this.introHasStarters !== !this.store.state.messages.length) this.renderIntro();
  if (initial) this.scrollDown();
  else if (newReplies.length) {
    this.scrollTo(newReplies[0]);
    // Unread: replies to questions this tab sent (one sent by another tab is read there).
    var mine = newReplies.filter(function (node) {
      var entry = self.store.find(node.getAttribute("data-id"));
      return entry && (!entry.replyTo || self.connection.emitted[entry.replyTo]);
    }).length;
    if (mine && (!this.isOpen() || document.hidden)) this.setUnread(this.unread + mine);
  } else if (newQuestion) this.scrollDown();
  this.showStatus();
};

Widget.prototype.scrollDown = function () {
  this.log.scrollTop = this.log.scrollHeight;
};

/** Scroll so that a new answer is read from its start (it may be taller than the panel). */
Widget.prototype.scrollTo = function (node) {
  this.log.scrollTop = Math.min(node.offsetTop - 8, this.log.scrollHeight);
};

/** The number of replies that came while the panel was closed (or the page hidden): on the launcher and
 * in the page title, until the panel is opened. */
Widget.prototype.setUnread = function (count) {
  this.unread = count;
  this.unreadBadge.hidden = !count;
  this.unreadBadge.textContent = count ? String(count) : "";
  this.unreadText.textContent = count ? t(this.lang, "unread", { n: count }) : "";
  var prefix = /^\(\d+\) /;
  if (count) {
    if (this.baseTitle === null) this.baseTitle = document.title.replace(prefix, "");
    document.title = "(" + count + ") " + this.baseTitle;
  } else if (this.baseTitle !== null) {
    if (prefix.test(document.title)) document.title = this.baseTitle;
    this.baseTitle = null;
  }
};

/** The status line: it says "connected" only when nothing waits for a reply that may not come. */
Widget.prototype.statusKey = function () {
  var connection = this.connection;
  if (!connection) return "connecting";
  var pending = this.store.pending().length;
  if (!connection.online()) return "offline";
  if (!connection.ready()) return pending ? "queued" : connection.everConfirmed ? "reconnecting" : "connecting";
  var messages = this.store.state.messages;
  var lastAnswer = 0;
  messages.forEach(function (m) { if (m.from === "user" && m.state === "answered") lastAnswer = Math.max(lastAnswer, m.ts); });
  if (this.store.failed().some(function (m) { return m.ts > lastAnswer; })) return "no_reply";
  if (pending) return "waiting";
  return "connected";
};

Widget.prototype.showStatus = function () {
  var key = this.statusKey();
  if (this.statusShown !== key + this.lang) {
    this.statusShown = key + this.lang;
    this.status.textContent = t(this.lang, "status_" + key);
    this.root.setAttribute("data-status", key);
  }
  // The typing indicator: only while the server has a message (it confirmed receipt) and is answering.
  var typing = !!this.connection && this.connection.ready() &&
    this.store.pending().some(function (m) { return m.state === "sent"; });
  this.typing.hidden = !typing;
  if (typing && !this.typingShown) {
    this.announce(t(this.lang, "typing"));
    this.scrollDown();
  }
  this.typingShown = typing;
};

Widget.prototype.announce = function (text) {
  var announcer = this.announcer;
  announcer.textContent = "";
  setTimeout(function () { announcer.textContent = text; }, 50);
};

Widget.prototype.showNotice = function (text) {
  this.notice.textContent = text || "";
  this.notice.hidden = !text;
};

Widget.prototype.onInput = function () {
  this.autoSize();
  this.updateCounter();
  var max = WIDGET_DATA.maxMessageChars;
  if (this.input.value.length >= max) {
    if (!this.pasteCut) this.showNotice(t(this.lang, "limit_reached", { max: max }));
  } else {
    this.pasteCut = false;
    this.showNotice("");
  }
};

/** A paste that would go past the limit is cut at it, and a notice says so. */
Widget.prototype.onPaste = function (event) {
  if (this.pictures.fromPaste(event)) return;  // a screenshot pasted: sent as a picture
  var data = event.clipboardData && event.clipboardData.getData("text/plain");
  if (!data) return;
  var input = this.input;
  var max = WIDGET_DATA.maxMessageChars;
  var start = input.selectionStart;
  var end = input.selectionEnd;
  var room = Math.max(0, max - (input.value.length - (end - start)));
  if (data.length <= room) return;
  event.preventDefault();
  var kept = data.slice(0, room);
  if (/[\ud800-\udbff]$/.test(kept)) kept = kept.slice(0, -1);  // never half a character
  input.focus();
  var inserted = false;
  try { inserted = document.execCommand("insertText", false, kept); } catch (e) { inserted = false; }
  if (!inserted || input.value.length > max) {
    input.setRangeText(kept, start, end, "end");
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }
  this.pasteCut = true;
  this.showNotice(t(this.lang, "paste_cut", { max: max }));
};

/** The input grows with its lines (Shift+Enter), up to its maximum height; then it scrolls. */
Widget.prototype.autoSize = function () {
  var input = this.input;
  input.style.height = "auto";
  if (input.value) input.style.height = (input.scrollHeight + 2) + "px";
  else input.style.height = "";
};

Widget.prototype.updateCounter = function () {
  var n = this.input.value.length;
  var max = WIDGET_DATA.maxMessageChars;
  this.counter.hidden = n === 0;
  this.counter.textContent = "";
  append(this.counter,
    el("span", { "aria-hidden": "true" }, t(this.lang, "counter", { n: n, max: max })),
    el("span", { className: "exo-sr" }, t(this.lang, "counter_label", { n: n, max: max })));
  this.root.classList.toggle("exo-at-limit", n >= max);
};

Widget.prototype.sendTyped = function () {
  var text = this.input.value.trim();
  if (!text) return;
  this.input.value = "";
  this.onInput();
  this.send(text);
};

/** Send a message (typed, a suggestion or a starter): saved in the outbox first, then sent when connected. */
Widget.prototype.send = function (text) {
  var entry = { id: newId(), from: "user", text: text, ts: Date.now(), state: "queued", attempts: 0 };
  this.store.add(entry);
  this.connection.send(this.store.find(entry.id));
  this.input.focus();
};

Widget.prototype.retry = function (id) {
  var entry = this.store.find(id);
  if (entry && entry.picture) {
    this.showNotice(t(this.lang, "picture_again"));  // its bytes are not kept: attach it again
    return;
  }
  if (entry && entry.state === "failed") this.connection.retry(entry);
  this.input.focus();
};

/** Rate an answer: kept with its entry (shown pressed after a reload and in other tabs) and sent. */
Widget.prototype.rate = function (id, rating, reason) {
  var entry = this.store.find(id);
  if (!entry) return;
  entry.feedback = { rating: rating, reason: reason || null, at: Date.now() };
  if (this.nodes[id]) this.nodes[id].setAttribute("data-render", renderKey(entry));
  this.store.commit();
  this.connection.sendFeedback(entry, rating, reason);
};

/** Ask before something that cannot be undone; `onYes` runs when confirmed. */
Widget.prototype.ask = function (kind, opener, onYes) {
  this.setMenu(false);
  this.confirmOpener = opener;
  this.confirmYes = onYes;
  this.confirmTitle.textContent = t(this.lang, kind + "_confirm_title");
  this.confirmText.textContent = t(this.lang, kind + "_confirm_text");
  this.confirmOk.textContent = t(this.lang, kind + "_confirm");
  this.confirmBox.hidden = false;
  this.confirmCancel.focus();
};

Widget.prototype.closeConfirm = function (confirmed, quiet) {
  if (this.confirmBox.hidden) return;
  this.confirmBox.hidden = true;
  var yes = this.confirmYes;
  this.confirmYes = null;
  if (confirmed && yes) yes();
  else if (!quiet && this.confirmOpener && this.confirmOpener.getClientRects().length) this.confirmOpener.focus();
  else if (!quiet) this.moreButton.focus();
};

Widget.prototype.newChat = function () {
  this.store.reset();
  this.input.value = "";
  this.onInput();
  this.announce(t(this.lang, "new_chat_done"));
  this.input.focus();
};

Widget.prototype.deleteHistory = function () {
  this.store.deleteAll();
  this.input.value = "";
  this.onInput();
  this.announce(t(this.lang, "delete_history_done"));
  this.input.focus();
};

Widget.prototype.openReference = function (cite, lang, opener) {
  this.refOpener = opener;
  this.refContent.textContent = "";
  this.refContent.appendChild(renderReference(cite, lang));
  this.refCard.setAttribute("lang", lang);
  this.refClose.textContent = t(lang, "close_reference");
  this.refCard.hidden = false;
  this.refBox.scrollTop = 0;
  this.refClose.focus();
};

Widget.prototype.closeReference = function () {
  if (this.refCard.hidden) return;
  this.refCard.hidden = true;
  if (this.refOpener && this.isOpen()) this.refOpener.focus();
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
