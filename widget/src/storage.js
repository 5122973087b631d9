// Storage of the exobot widget: the conversation of one embed (session id, history, outbox), kept in
// localStorage per server, shared by every tab of the site, expired after a number of days.
//
// State: {conversation, startedAt, sessionId, lang, langAt, messages: [entry]}. An entry is
//   user: {id (the client message id), from: "user", text, ts, state, attempts}
//   bot:  {id, from: "bot", text, payload, quickReplies, replyTo (the client id it answers), ts, feedback}
// A user entry's state is its delivery: "queued" (waits for a connection), "sending" (emitted, no receipt
// yet), "sent" (the server has it), "answered", or "failed" (not delivered; the person may retry).
// The outbox is the user entries that are queued, sending or sent: they are (re-)sent on every
// (re)connection, and the server answers a client id once.
//
// Tabs: every change is merged with what another tab may have written (entries by id; a newer
// conversation replaces an older one), and a `storage` event from another tab merges its changes here.

var STORAGE_PREFIX = "exobot:";
var STORAGE_VERSION = 2;
var MAX_HISTORY = 200;
var DAY_MS = 24 * 3600 * 1000;
var STATE_RANK = { queued: 0, sending: 1, sent: 2, failed: 3, answered: 4 };
var PENDING_STATES = ["queued", "sending", "sent"];

function Store(server, historyDays) {
  var self = this;
  this.server = server;
  this.key = STORAGE_PREFIX + "v" + STORAGE_VERSION + ":" + server;
  this.legacyKey = STORAGE_PREFIX + "v1:" + server;
  this.historyMs = historyDays * DAY_MS;
  this.listeners = [];
  this.state = this.read() || this.migrate();
  if (!this.state) {
    // Saved at once, so that a tab opened next joins this conversation instead of starting its own.
    this.state = freshState(null);
    this.write();
  }
  this.expire();
  window.addEventListener("storage", function (event) {
    if (event.key === self.key || event.key === null) self.sync();
  });
}

function freshState(lang) {
  return {
    conversation: newId(), startedAt: Date.now(), sessionId: newId(), lang: lang, langAt: 0, messages: [],
  };
}

/** The saved state, checked field by field (null when there is none or storage is blocked). */
Store.prototype.read = function () {
  var saved;
  try {
    saved = JSON.parse(window.localStorage.getItem(this.key) || "null");
  } catch (e) {
    return null;
  }
  if (!saved || typeof saved !== "object" || typeof saved.conversation !== "string") return null;
  return {
    conversation: saved.conversation,
    startedAt: typeof saved.startedAt === "number" ? saved.startedAt : 0,
    sessionId: typeof saved.sessionId === "string" && saved.sessionId ? saved.sessionId : newId(),
    lang: UI_LANGS.indexOf(saved.lang) >= 0 ? saved.lang : null,
    langAt: typeof saved.langAt === "number" ? saved.langAt : 0,
    messages: Array.isArray(saved.messages) ? saved.messages.filter(validEntry) : [],
  };
};

/** History saved by the first version of the widget (no ids, times or states): kept, marked delivered. */
Store.prototype.migrate = function () {
  var saved;
  try {
    saved = JSON.parse(window.localStorage.getItem(this.legacyKey) || "null");
  } catch (e) {
    return null;
  }
  if (!saved || typeof saved !== "object") return null;
  var state = freshState(UI_LANGS.indexOf(saved.lang) >= 0 ? saved.lang : null);
  if (typeof saved.sessionId === "string" && saved.sessionId) state.sessionId = saved.sessionId;
  var now = Date.now();
  var question = null;
  (Array.isArray(saved.messages) ? saved.messages : []).forEach(function (old, i) {
    if (!old || (old.from !== "user" && old.from !== "bot") || typeof old.text !== "string") return;
    var entry = { id: newId(), from: old.from, text: old.text, ts: now - 1000 + i };
    if (old.from === "user") {
      entry.state = "failed";
      entry.attempts = 1;
      question = entry;
    } else {
      if (!question) return;
      question.state = "answered";
      entry.replyTo = question.id;
      entry.payload = old.payload && typeof old.payload === "object" ? old.payload : null;
      if (Array.isArray(old.quickReplies)) entry.quickReplies = old.quickReplies;
      if (old.feedback) entry.feedback = old.feedback;
    }
    state.messages.push(entry);
  });
  try { window.localStorage.removeItem(this.legacyKey); } catch (e) { /* blocked */ }
  this.state = state;
  this.write();
  return state;
};

function validEntry(entry) {
  if (!entry || typeof entry !== "object" || typeof entry.id !== "string" || typeof entry.text !== "string") return false;
  if (typeof entry.ts !== "number") return false;
  if (entry.from === "user") return STATE_RANK.hasOwnProperty(entry.state);
  return entry.from === "bot";
}

/** Drop messages older than the history period; a conversation with nothing left starts afresh. */
Store.prototype.expire = function () {
  var cutoff = Date.now() - this.historyMs;
  var before = this.state.messages.length;
  var kept = this.state.messages.filter(function (m) { return m.ts >= cutoff; });
  var questions = {};
  kept.forEach(function (m) { if (m.from === "user") questions[m.id] = true; });
  kept = kept.filter(function (m) { return m.from === "user" || !m.replyTo || questions[m.replyTo]; });
  if (kept.length === before) return;
  if (!kept.length && this.state.startedAt < cutoff) {
    this.state = freshState(this.state.lang);
    this.state.langAt = 0;
  } else {
    this.state.messages = kept;
  }
  this.write();
};

/** Rank of a user entry's delivery, for merging two tabs' views of it: answered wins, then the later try. */
function deliveryRank(entry) {
  return entry.state === "answered" ? Infinity : (entry.attempts || 0) * 10 + STATE_RANK[entry.state];
}

function mergeEntry(a, b) {
  if (a.from === "user") return deliveryRank(b) > deliveryRank(a) ? b : a;
  var fa = a.feedback && a.feedback.at || 0;
  var fb = b.feedback && b.feedback.at || 0;
  var chosen = fb > fa ? b : a;
  var other = chosen === a ? b : a;
  // The staff view's explanation arrives in one tab: kept whichever tab rated last.
  return !chosen.why && other.why ? Object.assign({}, chosen, { why: other.why }) : chosen;
}

function sortEntries(messages) {
  return messages.sort(function (a, b) {
    if (a.ts !== b.ts) return a.ts - b.ts;
    if (a.from !== b.from) return a.from === "user" ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}

/** `mine` merged with `theirs` (another tab's save): the newer conversation wins; within one
 * conversation, the union of the entries, each entry's most advanced state. */
function mergeStates(theirs, mine) {
  if (!theirs) return mine;
  var lang = theirs.langAt > mine.langAt ? theirs.lang : mine.lang;
  var langAt = Math.max(theirs.langAt, mine.langAt);
  if (theirs.conversation !== mine.conversation) {
    var newer = theirs.startedAt > mine.startedAt ||
      (theirs.startedAt === mine.startedAt && theirs.conversation > mine.conversation) ? theirs : mine;
    return Object.assign({}, newer, { lang: lang, langAt: langAt });
  }
  var byId = {};
  mine.messages.forEach(function (m) { byId[m.id] = m; });
  theirs.messages.forEach(function (m) { byId[m.id] = byId[m.id] ? mergeEntry(byId[m.id], m) : m; });
  var messages = sortEntries(Object.keys(byId).map(function (id) { return byId[id]; }));
  return {
    conversation: mine.conversation, startedAt: mine.startedAt, sessionId: mine.sessionId,
    lang: lang, langAt: langAt, messages: messages,
  };
}

Store.prototype.write = function () {
  var messages = this.state.messages;
  if (messages.length > MAX_HISTORY) {
    messages = messages.slice(-MAX_HISTORY);
    while (messages.length && messages[0].from === "bot") messages.shift();  // no answer without its question
    this.state.messages = messages;
  }
  try {
    window.localStorage.setItem(this.key, JSON.stringify(this.state));
  } catch (e) {
    // Quota or privacy mode: the widget still works, without history across reloads and tabs.
  }
};

/** Save a change: merged first with what other tabs saved meanwhile, then written; listeners re-render. */
Store.prototype.commit = function () {
  var before = this.state.conversation;
  this.state = mergeStates(this.read(), this.state);
  this.write();
  this.notify(before !== this.state.conversation);
};

/** Another tab saved: take its changes. */
Store.prototype.sync = function () {
  var before = this.state.conversation;
  var theirs = this.read();
  if (!theirs) {
    // Another tab deleted the history: nothing of it stays here either.
    this.state = freshState(this.state.lang);
    this.write();
  } else {
    this.state = mergeStates(theirs, this.state);
  }
  this.notify(before !== this.state.conversation, true);
};

Store.prototype.onChange = function (listener) {
  this.listeners.push(listener);
};

/** Tell the listeners the state changed: `newConversation` when it is another conversation now,
 * `external` when the change came from another tab. */
Store.prototype.notify = function (newConversation, external) {
  this.listeners.forEach(function (listener) { listener(newConversation, !!external); });
};

Store.prototype.find = function (id) {
  for (var i = 0; i < this.state.messages.length; i++) {
    if (this.state.messages[i].id === id) return this.state.messages[i];
  }
  return null;
};

Store.prototype.add = function (entry) {
  this.state.messages.push(entry);
  sortEntries(this.state.messages);
  this.commit();
};

/** The outbox: user messages not answered yet and not given up (oldest first). */
Store.prototype.pending = function () {
  return this.state.messages.filter(function (m) { return m.from === "user" && PENDING_STATES.indexOf(m.state) >= 0; });
};

Store.prototype.failed = function () {
  return this.state.messages.filter(function (m) { return m.from === "user" && m.state === "failed"; });
};

/** The messages to show: every question, and every answer whose question is here. */
Store.prototype.visible = function () {
  var questions = {};
  this.state.messages.forEach(function (m) { if (m.from === "user") questions[m.id] = true; });
  return this.state.messages.filter(function (m) { return m.from === "user" || !m.replyTo || questions[m.replyTo]; });
};

Store.prototype.setLang = function (lang) {
  this.state.lang = lang;
  this.state.langAt = Date.now();
  this.commit();
};

/** Start a new conversation (new session id, empty history) in every tab. */
Store.prototype.reset = function () {
  var lang = this.state.lang;
  var langAt = this.state.langAt;
  this.state = freshState(lang);
  this.state.langAt = langAt;
  this.write();
  this.notify(true);
};

/** Delete everything this widget keeps in the browser (history, outbox, session, language) and start
 * afresh; other tabs follow through the storage event. */
Store.prototype.deleteAll = function () {
  var self = this;
  try {
    Object.keys(window.localStorage).forEach(function (key) {
      if (key === self.key || key === self.legacyKey) window.localStorage.removeItem(key);
    });
  } catch (e) { /* blocked */ }
  this.state = freshState(null);
  this.write();
  this.notify(true);
};
