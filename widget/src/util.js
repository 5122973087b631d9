// Helpers of the exobot widget: options from the <script> tag, the widget's own strings, storage, DOM.
// Bundled by `python -m bot.widget build` inside one function scope with `io`, `WIDGET_DATA` and
// `WIDGET_CSS` (see bot/widget.py); nothing here touches the host page's globals.

var UI_LANGS = ["zh-Hans", "zh-Hant", "en"];
var STORAGE_VERSION = 1;
var MAX_HISTORY = 200;

/** The widget's language for a data-lang value: zh / zh-Hans / zh-CN -> zh-Hans, zh-Hant / zh-TW -> zh-Hant. */
function normalizeLang(value, fallback) {
  var v = String(value || "").trim().toLowerCase();
  if (!v) return fallback;
  if (v === "en" || v.indexOf("en-") === 0) return "en";
  if (v === "zh-hant" || v === "zh-tw" || v === "zh-hk" || v === "zh-mo") return "zh-Hant";
  if (v.indexOf("zh") === 0) return "zh-Hans";
  return fallback;
}

/** Options of this embed, read from the data- attributes of the script tag that loaded the widget. */
function readOptions(script) {
  var attr = function (name) { return script ? script.getAttribute("data-" + name) : null; };
  var flag = function (name) {
    var v = attr(name);
    return v !== null && v !== "0" && v.toLowerCase() !== "false";
  };
  var server = (attr("server") || WIDGET_DATA.defaultServer).replace(/\/+$/, "");
  return {
    server: server,
    lang: normalizeLang(attr("lang"), WIDGET_DATA.defaultLang),
    title: attr("title"),
    debug: flag("debug"),
    open: flag("open"),
    socketPath: attr("socket-path") || "/socket.io",
  };
}

/** The widget string `key` in `lang`, with {placeholders} filled from `values`. */
function t(lang, key, values) {
  var table = WIDGET_DATA.strings[lang] || WIDGET_DATA.strings[WIDGET_DATA.defaultLang];
  var text = table[key];
  if (text === undefined) text = WIDGET_DATA.strings.en[key] || key;
  return text.replace(/\{(\w+)\}/g, function (all, name) {
    return values && values[name] !== undefined ? String(values[name]) : all;
  });
}

/** The UI language that goes with a reply language (a reply in Traditional gets Traditional labels). */
function replyLang(payload, fallback) {
  var lang = payload && payload.lang;
  return UI_LANGS.indexOf(lang) >= 0 ? lang : fallback;
}

/** Persistent state of one embed (session id, language, history), kept in localStorage per server. */
function Store(server) {
  this.key = "exobot:v" + STORAGE_VERSION + ":" + server;
  this.state = { sessionId: null, lang: null, messages: [] };
  try {
    var saved = JSON.parse(window.localStorage.getItem(this.key) || "null");
    if (saved && typeof saved === "object") {
      this.state.sessionId = typeof saved.sessionId === "string" ? saved.sessionId : null;
      this.state.lang = UI_LANGS.indexOf(saved.lang) >= 0 ? saved.lang : null;
      this.state.messages = Array.isArray(saved.messages) ? saved.messages.filter(validEntry) : [];
    }
  } catch (e) {
    // Storage blocked or corrupt: start afresh, the widget still works without history.
  }
}

function validEntry(entry) {
  return entry && (entry.from === "user" || entry.from === "bot") && typeof entry.text === "string";
}

Store.prototype.save = function () {
  try {
    this.state.messages = this.state.messages.slice(-MAX_HISTORY);
    window.localStorage.setItem(this.key, JSON.stringify(this.state));
  } catch (e) {
    // Quota or privacy mode: history is a convenience, not needed for chatting.
  }
};

Store.prototype.add = function (entry) {
  this.state.messages.push(entry);
  this.save();
};

Store.prototype.clear = function () {
  this.state.sessionId = null;
  this.state.messages = [];
  this.save();
};

/** A new element with attributes and text (always set as text, never parsed as HTML). */
function el(tag, attrs, text) {
  var node = document.createElement(tag);
  if (attrs) {
    Object.keys(attrs).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    });
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Append children (skipping empty ones) and return the parent. */
function append(parent) {
  for (var i = 1; i < arguments.length; i++) {
    if (arguments[i]) parent.appendChild(arguments[i]);
  }
  return parent;
}

/** The launcher's speech-bubble icon, drawn as SVG (no emoji font needed). */
function chatIcon() {
  var ns = "http://www.w3.org/2000/svg";
  var svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "22");
  svg.setAttribute("height", "22");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  var path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  return svg;
}
