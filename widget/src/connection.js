// Connection and outbox of the exobot widget: Rasa's socket.io channel (bot/channels/socketio.py) and
// the delivery of every message.
//
// Protocol: on every (re)connect emit `session_request` {session_id}; the server joins the socket to the
// session's room and answers `session_confirm`. Each message is `user_uttered` {message, session_id,
// client_id, attempt}; the server confirms receipt with `user_received` {client_id} and answers with
// `bot_uttered` {text, custom, reply_to: client_id, message_id}. A client id sent again (after a
// reconnection, a reload or "Retry") is answered once: the server sends the same answer again instead of
// running the turn twice, and the widget shows each message_id once.
//
// Delivery: a message is kept in the outbox (storage.js) until answered. While there is no connection it
// waits ("queued"); on every (re)connection the outbox is sent. Without the server's receipt within the
// ack timeout the connection is taken for dead (a silent drop) and re-opened; without an answer within the
// reply timeout of being sent on a live connection, the message is "not delivered" and can be retried.

var OUTBOX_MAX_AGE_MS = DAY_MS;  // an older unsent message is not sent by itself any more (Retry sends it)
var CHECK_INTERVAL_MS = 1000;

function Connection(options, store, events) {
  var self = this;
  this.options = options;
  this.store = store;
  this.events = events;  // {change(): the connection changed, failed(entry): a message was not delivered}
  this.confirmed = false;
  this.everConfirmed = false;
  this.session = null;
  this.deadlines = {};   // client id -> time by which its answer must arrive (this tab's clock)
  this.ackTimers = {};
  this.emitted = {};     // client ids this tab has sent (their replies count as unread here)
  this.reopening = false;
  this.socket = io(options.server, { path: options.socketPath, reconnectionDelayMax: 5000 });
  this.socket.on("connect", function () {
    self.confirmed = false;
    self.socket.emit("session_request", { session_id: self.store.state.sessionId });
  });
  this.socket.on("session_confirm", function (data) { self.onSessionConfirm(data); });
  this.socket.on("user_received", function (data) { self.onReceived(data); });
  this.socket.on("bot_uttered", function (data) { self.onBotUttered(data); });
  this.socket.on("bot_explained", function (data) { self.onExplained(data); });
  this.socket.on("disconnect", function () { self.onDisconnect(); });
  this.socket.on("connect_error", function () {
    self.confirmed = false;
    self.events.change();
  });
  window.addEventListener("online", function () {
    // Back online: connect now rather than after the reconnection back-off.
    if (!self.socket.connected) { self.socket.disconnect(); self.socket.connect(); }
    else self.flush(false);
    self.events.change();
  });
  window.addEventListener("offline", function () { self.events.change(); });
  this.ticker = setInterval(function () { self.check(); }, CHECK_INTERVAL_MS);
}

Connection.prototype.online = function () {
  return navigator.onLine !== false;
};

/** True while messages can be sent: connected, session confirmed, and the browser is online. */
Connection.prototype.ready = function () {
  return this.confirmed && this.socket.connected && this.online();
};

Connection.prototype.onSessionConfirm = function (data) {
  var id = typeof data === "string" ? data : data && data.session_id;
  if (id && id !== this.store.state.sessionId) {
    // The server did not accept our id (it gave a fresh one): this conversation goes on under it.
    this.store.state.sessionId = id;
    this.store.commit();
  }
  this.session = this.store.state.sessionId;
  this.confirmed = true;
  this.everConfirmed = true;
  this.reopening = false;
  this.flush(true);
  this.events.change();
};

/** Send the outbox. `all`: also the messages already sent (after a reconnection: their answer may have
 * been lost; the server answers a client id once). Otherwise only the ones waiting for a connection. */
Connection.prototype.flush = function (all) {
  var self = this;
  if (!this.ready()) return;
  var now = Date.now();
  var changed = false;
  this.store.pending().forEach(function (entry) {
    if (entry.picture) return;  // a picture is posted once (pictures.js); its bytes are not kept
    if (now - entry.ts > OUTBOX_MAX_AGE_MS) {
      entry.state = "failed";
      changed = true;
    } else if (all || entry.state === "queued") {
      self.emit(entry);
      changed = true;
    }
  });
  if (changed) this.store.commit();
};

/** Send a new message (already in the store as "queued"), now if connected, else on reconnection. */
Connection.prototype.send = function (entry) {
  if (this.ready()) this.emit(entry);
  this.store.commit();
};

/** Retry a message that was not delivered: the same client id, so it is answered at most once. */
Connection.prototype.retry = function (entry) {
  entry.state = "queued";
  delete this.deadlines[entry.id];
  if (this.ready()) this.emit(entry);
  else if (this.socket.disconnected && this.online()) this.socket.connect();
  this.store.commit();
};

Connection.prototype.emit = function (entry) {
  var self = this;
  if (entry.picture) return;  // posted by pictures.js, never as text
  var attempt = entry.attempts || 0;
  entry.attempts = attempt + 1;
  entry.state = "sending";
  this.emitted[entry.id] = true;
  if (!this.deadlines[entry.id]) this.deadlines[entry.id] = Date.now() + this.options.replyTimeoutMs;
  var message = {
    message: entry.text, session_id: this.store.state.sessionId, client_id: entry.id, attempt: attempt,
  };
  if (this.options.debug) message.explain = true;  // the staff view: why the bot answered so (bot_explained)
  // The widget's language: Chinese that reads the same in both scripts is answered in this one.
  message.metadata = { ui_lang: this.store.state.lang || this.options.lang };
  this.socket.emit("user_uttered", message);
  clearTimeout(this.ackTimers[entry.id]);
  this.ackTimers[entry.id] = setTimeout(function () {
    delete self.ackTimers[entry.id];
    var current = self.store.find(entry.id);
    if (current && current.state === "sending" && self.ready()) self.reopen();
  }, this.options.ackTimeoutMs);
};

/** The server did not confirm a message it should have: the connection is dead without knowing it
 * (a silent drop). Open a new one; the outbox is sent again on it. */
Connection.prototype.reopen = function () {
  if (this.reopening) return;
  this.reopening = true;
  this.confirmed = false;
  var changed = false;
  this.store.pending().forEach(function (entry) {
    if (entry.state === "sending" && !entry.picture) { entry.state = "queued"; changed = true; }
  });
  if (changed) this.store.commit();
  this.socket.disconnect();
  this.socket.connect();
  this.events.change();
};

Connection.prototype.onReceived = function (data) {
  var entry = data && this.store.find(data.client_id);
  if (!entry) return;
  clearTimeout(this.ackTimers[entry.id]);
  if (entry.state === "sending" || entry.state === "queued") {
    entry.state = "sent";
    this.store.commit();
  }
};

/** One bot message: `{text, custom, reply_to, message_id}` from our channel (plain `{text}` or quick
 * replies from another server also work). Shown once per message_id, and only after its question. */
/** The staff view's explanation of a question (`bot_explained` {reply_to, why}): kept with its answers. */
Connection.prototype.onExplained = function (data) {
  if (!data || typeof data.reply_to !== "string" || !data.why || typeof data.why !== "object") return;
  var answers = this.store.state.messages.filter(function (m) { return m.from === "bot" && m.replyTo === data.reply_to; });
  answers.forEach(function (m) { m.why = data.why; });
  if (answers.length) this.store.commit();
};

Connection.prototype.onBotUttered = function (data) {
  if (!data || typeof data !== "object") return;
  var payload = data.custom && typeof data.custom === "object" ? data.custom : null;
  var text = typeof data.text === "string" ? data.text : "";
  if (!text && !payload) return;
  var id = typeof data.message_id === "string" && data.message_id ? data.message_id : newId();
  if (this.store.find(id)) return;  // a re-sent answer that is already shown
  var question = null;
  if (typeof data.reply_to === "string" && data.reply_to) {
    question = this.store.find(data.reply_to);
    if (!question) {
      this.store.sync();  // another tab may have just saved it
      question = this.store.find(data.reply_to);
    }
    if (!question) return;  // never an answer without its question
  }
  if (!text && !(payload && Array.isArray(payload.parts) && payload.parts.length)) {
    // A payload for software only (a conversation held by a person of the support team): nothing to show,
    // but the question has its reply.
    if (question) {
      question.state = "answered";
      clearTimeout(this.ackTimers[question.id]);
      delete this.deadlines[question.id];
      this.store.commit();
    }
    return;
  }
  var entry = { id: id, from: "bot", text: text, payload: payload, ts: Date.now() };
  if (question) {
    entry.replyTo = question.id;
    entry.ts = Math.max(entry.ts, question.ts + 1);
    question.state = "answered";
    clearTimeout(this.ackTimers[question.id]);
    delete this.deadlines[question.id];
  }
  if (Array.isArray(data.quick_replies)) entry.quickReplies = data.quick_replies;
  this.store.add(entry);  // the widget draws it (and counts it unread) when the store changes
};

Connection.prototype.onDisconnect = function () {
  var self = this;
  this.confirmed = false;
  if (!this.reopening) {
    // The clock of a message stops while nobody can answer it; it starts again when it is re-sent.
    this.deadlines = {};
    var changed = false;
    this.store.pending().forEach(function (entry) {
      if (entry.state === "sending" && !entry.picture) { entry.state = "queued"; changed = true; }
    });
    if (changed) this.store.commit();
  }
  Object.keys(this.ackTimers).forEach(function (id) { clearTimeout(self.ackTimers[id]); });
  this.ackTimers = {};
  this.events.change();
};

/** Every second: a message sent on a live connection and unanswered past its deadline is "not delivered". */
Connection.prototype.check = function () {
  var self = this;
  if (!this.ready()) return;
  var now = Date.now();
  var failed = [];
  this.store.pending().forEach(function (entry) {
    if (entry.state === "queued") return;
    var deadline = self.deadlines[entry.id];
    if (!deadline) self.deadlines[entry.id] = now + self.options.replyTimeoutMs;
    else if (now > deadline) failed.push(entry);
  });
  if (!failed.length) return;
  failed.forEach(function (entry) {
    entry.state = "failed";
    delete self.deadlines[entry.id];
  });
  this.store.commit();
  failed.forEach(function (entry) { self.events.failed(entry); });
};

/** The conversation changed in storage (another tab, or "new conversation"): join its session. */
Connection.prototype.followSession = function () {
  if (this.session && this.session !== this.store.state.sessionId) {
    this.confirmed = false;
    this.session = null;
    this.deadlines = {};
    this.socket.disconnect();
    this.socket.connect();
  } else {
    this.flush(false);
  }
};

/** Rate an answer (contract 1.1 section 3): a `feedback` event, buffered by socket.io while offline. */
Connection.prototype.sendFeedback = function (entry, rating, reason) {
  this.socket.emit("feedback", {
    session_id: this.store.state.sessionId, rating: rating, answer: entry.text, reason: reason || "",
  });
};
