// Helpers of the exobot widget: options from the <script> tag, the widget's own strings, ids, times, DOM,
// links, clipboard and focus. Bundled by `python -m bot.widget build` inside one function scope with `io`,
// `WIDGET_DATA` and `WIDGET_CSS` (see bot/widget.py); nothing here touches the host page's globals.

var UI_LANGS = ["zh-Hans", "zh-Hant", "en"];
// Screens where the open panel fills the whole screen: narrow (phones upright) or short (phones on
// their side, small windows). Keep in step with the media query at the end of widget.css.
var FULL_SCREEN_QUERY = "(max-width: 520px), (max-height: 500px)";

/** The widget's language for a data-lang value: zh / zh-Hans / zh-CN -> zh-Hans, zh-Hant / zh-TW -> zh-Hant. */
function normalizeLang(value, fallback) {
  var v = String(value || "").trim().toLowerCase();
  if (!v) return fallback;
  if (v === "en" || v.indexOf("en-") === 0) return "en";
  if (v === "zh-hant" || v === "zh-tw" || v === "zh-hk" || v === "zh-mo") return "zh-Hant";
  if (v.indexOf("zh") === 0) return "zh-Hans";
  return fallback;
}

/** A number from a data- attribute, within [min, max]; `fallback` when missing or not a number. */
function numberOption(value, fallback, min, max) {
  var n = parseFloat(value);
  if (value === null || value === "" || isNaN(n)) return fallback;
  return Math.min(max, Math.max(min, n));
}

/**
 * Options of this embed, read from the data- attributes of the script tag that loaded the widget:
 * data-server, data-lang, data-title, data-debug, data-open, data-socket-path, data-history-days (how long
 * the chat history is kept in the browser, default 30), data-reply-timeout (seconds without an answer
 * before a message shows "not delivered", default 60), data-ack-timeout (seconds without the server's
 * receipt before the connection is treated as dead and re-opened, default 8).
 */
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
    historyDays: numberOption(attr("history-days"), WIDGET_DATA.historyDays, 1, 3650),
    replyTimeoutMs: numberOption(attr("reply-timeout"), WIDGET_DATA.replyTimeout, 2, 600) * 1000,
    ackTimeoutMs: numberOption(attr("ack-timeout"), WIDGET_DATA.ackTimeout, 1, 120) * 1000,
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

/** A random id of 32 hex digits (client message ids, session ids). */
function newId() {
  var bytes = new Uint8Array(16);
  if (window.crypto && window.crypto.getRandomValues) window.crypto.getRandomValues(bytes);
  else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
}

/** A <time> element for a message: the time of day (with the date when not today), the full date as tooltip. */
function timeElement(ts, lang) {
  var date = new Date(ts);
  var node = el("time", { className: "exo-time", datetime: date.toISOString() });
  try {
    var today = new Date();
    var sameDay = date.toDateString() === today.toDateString();
    var short = { hour: "2-digit", minute: "2-digit" };
    if (!sameDay) { short.month = "short"; short.day = "numeric"; }
    node.textContent = new Intl.DateTimeFormat(lang, short).format(date);
    node.title = new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "short" }).format(date);
  } catch (e) {
    node.textContent = date.toLocaleTimeString();
  }
  return node;
}

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

var URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]+/gi;
var URL_TRAILING = /[.,;:!?)\]}'"]+$/;

/**
 * An element whose text is `text`, with every http(s) URL in it turned into a safe link: the href is a
 * parsed http: or https: URL, the link text is set with textContent, and it opens in a new tab without
 * giving the page access to the widget's window (rel="noopener noreferrer"). Nothing is parsed as HTML.
 */
function linkedText(tag, attrs, text) {
  var node = el(tag, attrs);
  var source = String(text || "");
  var last = 0;
  source.replace(URL_PATTERN, function (match, offset) {
    var raw = match.replace(URL_TRAILING, "");
    var href = safeHref(raw);
    if (!href) return match;
    if (offset > last) node.appendChild(document.createTextNode(source.slice(last, offset)));
    // "(opens in a new tab)" is the description of every such link (a hidden element of the panel), so
    // the text of the answer stays exactly the bot's text.
    node.appendChild(el("a", {
      href: href, target: "_blank", rel: "noopener noreferrer", className: "exo-link", "aria-describedby": "exo-new-tab",
    }, raw));
    last = offset + raw.length;
    return match;
  });
  if (last < source.length) node.appendChild(document.createTextNode(source.slice(last)));
  return node;
}

/** The normalised URL when `raw` is an absolute http: or https: URL, else null. */
function safeHref(raw) {
  try {
    var url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (e) {
    return null;
  }
}

/** Copy text to the clipboard; resolves true when it was copied. */
function copyText(text) {
  var fallback = function () {
    var area = el("textarea", { "aria-hidden": "true", style: "position:fixed;top:-1000px;opacity:0" });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  };
  if (navigator.clipboard && navigator.clipboard.writeText) {
    return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return fallback(); });
  }
  return Promise.resolve(fallback());
}

var FOCUSABLE = 'a[href], button:not([disabled]), textarea:not([disabled]), input:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** The elements of `container` that Tab can reach, in order (visible ones only). */
function focusables(container) {
  return Array.prototype.filter.call(container.querySelectorAll(FOCUSABLE), function (node) {
    return !node.closest("[hidden]") && node.getClientRects().length > 0;
  });
}

/** Keep Tab and Shift+Tab inside `container` (a modal dialog): from the last element to the first and back. */
function trapTab(event, container, root) {
  if (event.key !== "Tab") return;
  var items = focusables(container);
  if (!items.length) { event.preventDefault(); return; }
  var first = items[0];
  var last = items[items.length - 1];
  var active = root.activeElement;
  var inside = active && container.contains(active);
  if (event.shiftKey && (!inside || active === first)) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (!inside || active === last)) {
    event.preventDefault();
    first.focus();
  }
}

/** The launcher's speech-bubble icon, drawn as SVG (no emoji font needed). */
function chatIcon() {
  return svgIcon("M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z", 22);
}

/** A small decorative SVG icon from one path. */
function svgIcon(d, size) {
  var ns = "http://www.w3.org/2000/svg";
  var svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", String(size || 18));
  svg.setAttribute("height", String(size || 18));
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  var path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  return svg;
}
