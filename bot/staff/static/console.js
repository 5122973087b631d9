// The staff console (issue 14): test panel, conversations, hand-off and review runs over /staff/api.
// Every word of the page comes from data/staff_texts.yml (injected as JSON by bot/staff/page.py); data from
// the server (replies, conversation texts, error messages) is always set with textContent, never as HTML.
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("staff-data").textContent);
  var STRINGS = DATA.strings;
  var LANG_KEY = "exobot-staff-lang";
  var VIEWS = ["test", "conversations", "handoff", "runs"];
  var POLL_SECONDS = 5;
  var RUN_POLL_MS = 2000;
  var LEVELS = ["systematic_review", "human_trial", "human_uncontrolled", "animal", "in_vitro", "review",
    "article_assessment", "no_evidence"];
  var LANG_KEYS = { "zh-Hans": "lang_zh_hans", "zh-Hant": "lang_zh_hant", "en": "lang_en" };
  var STATUS_KEYS = { waiting: "status_waiting", staff: "status_staff", bot: "status_bot" };
  var RUN_KEYS = { running: "run_running", passed: "run_passed", failed: "run_failed" };
  var SIGNALS = ["flagged", "unanswered", "low_confidence", "not_helpful"];

  var state = {
    lang: "zh-Hans",
    chinese: "zh-Hans",
    view: null,
    loaded: {},
    statuses: {},
    test: null,
    conversations: null,
    detail: null,
    waiting: null,
    staff: [],
    knownWaiting: null,
    handoffId: null,
    handoffDetail: null,
    handoffNotice: null,
    updated: null,
    runs: null,
    runFiles: [],
    runStates: {},
    runTimer: null,
    comparison: null,
    conversationRequest: 0
  };

  // ---- small helpers ----------------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  /** The console string `key` in the current language, with {placeholders} filled from `values`. */
  function t(key, values) {
    var table = STRINGS[state.lang] || STRINGS["zh-Hans"];
    var text = table[key];
    if (text === undefined) { return key; }
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && values[name] !== undefined && values[name] !== null ? String(values[name]) : whole;
    });
  }

  /** An element with attributes (className, text, or any attribute) and children (nodes or text). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === undefined || value === null || value === false) { return; }
      if (name === "className") { node.className = value; }
      else if (name === "text") { node.textContent = value; }
      else { node.setAttribute(name, value === true ? "" : String(value)); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) { node.removeChild(node.firstChild); }
    return node;
  }

  function number(value, digits) {
    return typeof value === "number" ? value.toFixed(digits === undefined ? 3 : digits) : "—";
  }

  function langName(lang) { return LANG_KEYS[lang] ? t(LANG_KEYS[lang]) : (lang || "—"); }

  function channelName(channel) { return channel ? t("channel_" + channel) : "—"; }

  function statusName(status) { return t(STATUS_KEYS[status] || "status_bot"); }

  function formatTime(iso) {
    if (!iso) { return "—"; }
    var date = new Date(iso);
    if (isNaN(date.getTime())) { return iso; }
    try {
      return date.toLocaleString(state.lang === "en" ? "en-GB" : state.lang, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) {
      return date.toLocaleString();
    }
  }

  /** A conversation id in a URL path: the ":" of its channel prefix stays, everything else is escaped. */
  function conversationPath(id) { return "/staff/api/conversations/" + encodeURIComponent(id).replace(/%3A/gi, ":"); }

  /** Set the text of a status line from a string key, kept so that a language switch can say it again. */
  function say(id, key, values, kind) {
    state.statuses[id] = key ? { key: key, values: values || {}, kind: kind || "" } : null;
    renderStatus(id);
  }

  function renderStatus(id, node) {
    node = node || $(id);
    var status = state.statuses[id];
    if (!node) { return; }
    node.textContent = status ? t(status.key, status.values) : "";
    node.classList.toggle("error", !!(status && status.kind === "error"));
    node.classList.toggle("ok", !!(status && status.kind === "ok"));
  }

  function announce(key, values) {
    var node = $("announcer");
    node.textContent = "";
    window.setTimeout(function () { node.textContent = t(key, values); }, 50);
  }

  // ---- the API ------------------------------------------------------------------------------------

  /** Call the staff API; resolves with its JSON, rejects with {key, values} of a console string. */
  function api(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.status === 401) { throw { key: "error_signed_out" }; }
        if (!response.ok) { throw { key: "error", values: { error: (data && data.error) || ("HTTP " + response.status) } }; }
        return data;
      });
    }, function () {
      throw { key: "error_network" };
    });
  }

  /** A handler for a failed call: its message on the status line `id`. */
  function failed(id) {
    return function (error) {
      var known = error && error.key;
      say(id, known ? error.key : "error", known ? error.values : { error: String(error) }, "error");
    };
  }

  /** Mark a form as waiting for the server (its buttons stay focusable; a second submit is ignored). */
  function busy(form, on) {
    form.setAttribute("aria-busy", on ? "true" : "false");
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (button) {
      if (on) { button.setAttribute("aria-disabled", "true"); } else { button.removeAttribute("aria-disabled"); }
    });
  }

  function isBusy(form) { return form.getAttribute("aria-busy") === "true"; }

  // ---- language -------------------------------------------------------------------------------------

  function storedLang() {
    try { return window.localStorage.getItem(LANG_KEY); } catch (e) { return null; }
  }

  function storeLang(lang) {
    try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* private mode: not remembered */ }
  }

  /** Chinese in the browser's script (Traditional for zh-TW/HK/MO/Hant), else Simplified. */
  function browserChinese() {
    var tags = navigator.languages || [navigator.language || ""];
    var zh = tags.filter(function (tag) { return /^zh/i.test(tag); })[0] || "";
    return /hant|tw|hk|mo/i.test(zh) ? "zh-Hant" : "zh-Hans";
  }

  function initialLang() {
    var stored = storedLang();
    if (stored && STRINGS[stored]) { return stored; }
    var first = (navigator.languages && navigator.languages[0]) || navigator.language || "";
    return /^en/i.test(first) ? "en" : browserChinese();
  }

  function switchLang() {
    state.lang = state.lang === "en" ? state.chinese : "en";
    storeLang(state.lang);
    applyStrings();
    renderAll();
    $("lang-switch").focus();
  }

  /** Every fixed string of the page (data-t, data-t-label) and the language button, in the current language. */
  function applyStrings() {
    document.documentElement.lang = state.lang;
    Array.prototype.forEach.call(document.querySelectorAll("[data-t]"), function (node) {
      node.textContent = t(node.getAttribute("data-t"));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-t-label]"), function (node) {
      node.setAttribute("aria-label", t(node.getAttribute("data-t-label")));
    });
    var button = clear($("lang-switch"));
    var other = state.lang === "en" ? state.chinese : "en";
    button.appendChild(el("span", { lang: other, text: t("switch_lang") }));
    button.appendChild(el("span", { className: "sr-only", text: t("switch_lang_label") }));
    $("handoff-intro").textContent = t("handoff_intro", { s: POLL_SECONDS });
    Object.keys(state.statuses).forEach(function (id) { renderStatus(id); });
    updateWaitingBadge();
  }

  function renderAll() {
    if (state.test) { renderTest(); }
    if (state.conversations) { renderConversationList(); }
    if (state.detail) { renderConversationDetail(false); }
    renderHandoff();
    if (state.runs) { renderRuns(); }
    renderComparison();
  }

  // ---- views (the tabs) -----------------------------------------------------------------------------

  function viewFromHash() {
    var name = (window.location.hash || "").replace(/^#/, "");
    return VIEWS.indexOf(name) >= 0 ? name : "test";
  }

  /** Show one section; load its data the first time; move focus to its heading when asked. */
  function showView(name, focus) {
    state.view = name;
    VIEWS.forEach(function (view) {
      $("view-" + view).hidden = view !== name;
      var link = document.querySelector('.tabs a[data-view="' + view + '"]');
      if (view === name) { link.setAttribute("aria-current", "page"); } else { link.removeAttribute("aria-current"); }
    });
    if (name === "conversations" && !state.loaded.conversations) {
      state.loaded.conversations = true;
      loadConversations();
    }
    if (name === "runs") { loadRuns(); }
    if (name === "handoff") { pollHandoff(false); }
    if (focus) { $(name === "test" ? "test-heading" : name === "conversations" ? "conv-heading" : name + "-heading").focus(); }
  }

  // ---- shared renderers -----------------------------------------------------------------------------

  function levelClass(level) {
    return "level level-" + (LEVELS.indexOf(level) >= 0 ? level.replace(/_/g, "-") : "unknown");
  }

  /** A grade badge: "Evidence: <label>", coloured by level. */
  function badge(evidence) {
    evidence = evidence || {};
    return el("span", { className: levelClass(evidence.level), "data-level": evidence.level || "" }, [
      el("span", { className: "badge-key key", lang: state.lang, text: t("evidence") }),
      el("span", { className: "badge-label", text: evidence.label || evidence.level || "—" })
    ]);
  }

  function citationIndex(payload) {
    var byRef = {};
    (payload.citations || []).forEach(function (c) { byRef[c.ref] = c; });
    return byRef;
  }

  /** Citation chips "[n] short" for the refs of one part. */
  function chips(refs, byRef) {
    var list = el("ul", { className: "chips", "aria-label": t("sources") });
    (refs || []).forEach(function (ref) {
      var citation = byRef[ref] || {};
      list.appendChild(el("li", { className: "chip", "data-ref": ref }, [
        el("span", { className: "chip-n", text: "[" + ref + "]" }), " ", citation.short || ""
      ]));
    });
    return list;
  }

  function flagBanners(flags) {
    return (flags || []).map(function (flag) {
      return el("p", { className: "flag", "data-code": flag.code }, [
        el("span", { className: "sr-only key", lang: state.lang, text: t("flag_label") }), flag.message || flag.code
      ]);
    });
  }

  /** The reply as the web widget shows it: flags, intro, each part with its grade and chips, suggestions. */
  function widgetReply(payload, fallbackText) {
    var box = el("div", { lang: payload && payload.lang });
    if (!payload) {
      box.appendChild(el("p", { className: "muted", text: fallbackText || t("no_reply") }));
      return box;
    }
    var byRef = citationIndex(payload);
    flagBanners(payload.flags).forEach(function (node) { box.appendChild(node); });
    if (payload.intro) { box.appendChild(el("p", { className: "reply-intro", text: payload.intro })); }
    (payload.parts || []).forEach(function (part) {
      box.appendChild(el("div", { className: "part", "data-fact": part.fact || "" }, [
        el("p", { className: "part-text", text: part.text || "" }),
        badge(part.evidence),
        chips(part.refs, byRef)
      ]));
    });
    if (!(payload.parts || []).length) {
      box.appendChild(el("p", { className: "reply-text", text: fallbackText || t("no_reply") }));
    }
    if ((payload.suggestions || []).length) {
      box.appendChild(el("p", { className: "label", lang: state.lang, text: t("suggestions") }));
      box.appendChild(el("ul", { className: "suggestions" }, (payload.suggestions || []).map(function (s) {
        return el("li", { text: s.title || s.payload || "" });
      })));
    }
    return box;
  }

  /** A table with a caption, column headers and rows of cells (text or nodes); "(none)" when empty. */
  function table(captionKey, columns, rows) {
    var head = el("tr", {}, columns.map(function (key) { return el("th", { scope: "col", text: t(key) }); }));
    var body = el("tbody", {}, rows.map(function (row) {
      return el("tr", {}, row.map(function (cell) {
        return el("td", {}, [cell === null || cell === undefined ? "—" : typeof cell === "object" ? cell : String(cell)]);
      }));
    }));
    if (!rows.length) {
      body.appendChild(el("tr", {}, [el("td", { colspan: columns.length, className: "muted", text: t("table_caption_empty") })]));
    }
    return el("div", { className: "table-wrap" }, [
      el("table", {}, [el("caption", { text: t(captionKey) }), el("thead", {}, [head]), body])
    ]);
  }

  function definitions(pairs) {
    var list = el("dl", { className: "facts" });
    pairs.forEach(function (pair) {
      list.appendChild(el("dt", { text: t(pair[0]) }));
      list.appendChild(el("dd", {}, [pair[1] === null || pair[1] === undefined || pair[1] === "" ? "—" : pair[1]]));
    });
    return list;
  }

  // ---- test panel ---------------------------------------------------------------------------------

  function onTestSubmit(event) {
    event.preventDefault();
    var form = event.currentTarget;
    if (isBusy(form)) { return; }
    var text = $("test-text").value.trim();
    if (!text) { $("test-text").focus(); return; }
    busy(form, true);
    say("test-status", "test_running");
    api("POST", "/staff/api/test", { text: text }).then(function (result) {
      state.test = result;
      say("case-status", null);
      renderTest();
      fillCase(result);
      var payload = result.payload || {};
      if (payload.evidence && payload.evidence.label) {
        say("test-status", "test_done", { type: payload.type, grade: payload.evidence.label }, "ok");
      } else {
        say("test-status", "test_done_plain", { type: payload.type || t("no_reply") }, "ok");
      }
    }, failed("test-status")).then(function () { busy(form, false); });
  }

  function renderTest() {
    var result = state.test;
    var payload = result.payload;
    var channels = result.channels || {};
    $("test-result").hidden = false;
    clear($("ch-widget")).appendChild(widgetReply(payload, (channels.widget || {}).text));
    renderPlain($("ch-wechat"), (channels.wechat || {}).text, payload);
    renderPlain($("ch-telegram"), (channels.telegram || {}).text, payload);
    var buttons = clear($("ch-telegram-buttons"));
    ((channels.telegram || {}).buttons || []).forEach(function (title) {
      buttons.appendChild(el("li", { lang: payload && payload.lang, text: title }));
    });
    if (!buttons.childNodes.length) { buttons.appendChild(el("li", { className: "none", text: t("none") })); }
    renderWhy(result);
  }

  function renderPlain(node, text, payload) {
    node.textContent = text || t("no_reply");
    if (payload && payload.lang && text) { node.setAttribute("lang", payload.lang); } else { node.removeAttribute("lang"); }
  }

  function renderWhy(result) {
    var why = result.why || {};
    var payload = result.payload || {};
    var intent = why.intent || {};
    var summary = $("why-summary");
    clear(summary);
    moveChildren(definitions([
      ["reply_type", payload.type],
      ["why_language", langName(why.language)],
      ["why_intent", intent.name ? intent.name + " (" + number(intent.confidence) + ")" : null],
      ["topic", payload.topic],
      ["why_normalised", why.normalised_text]
    ]), summary);
    var tables = clear($("why-tables"));
    whyTables(result).forEach(function (node) { tables.appendChild(node); });
  }

  function moveChildren(from, to) {
    while (from.firstChild) { to.appendChild(from.firstChild); }
  }

  function slice(text, item) {
    return typeof item.start === "number" && typeof item.end === "number" ? text.slice(item.start, item.end) : item.text;
  }

  /** The "why" tables: intents, entities, flags, facts, sentences and parts. */
  function whyTables(result) {
    var why = result.why || {};
    var text = result.text || "";
    var parts = (result.payload || {}).parts || [];
    return [
      table("intent_ranking", ["col_intent", "col_confidence"], (why.intent_ranking || []).map(function (i) {
        return [i.name, number(i.confidence, 4)];
      })),
      table("entities_heading", ["col_entity", "col_value", "col_text", "col_extractor"], (why.entities || []).map(function (e) {
        return [e.entity, e.value, slice(text, e), e.extractor];
      })),
      table("flags_heading", ["col_code", "col_matched"], (why.flags || []).map(function (f) {
        return [el("code", { text: f.code }), f.text || slice(text, f)];
      })),
      table("fact_ranking", ["col_fact", "col_score"], (why.fact_ranking || []).map(function (f) {
        return [el("code", { text: f.fact }), number(f.confidence, 4)];
      })),
      table("sentences_heading", ["col_sentence", "col_question", "col_top_facts"], (why.sentences || []).map(function (s) {
        return [slice(text, s), t(s.question ? "word_yes" : "word_no"), (s.ranking || []).map(function (r) {
          return r.fact + " (" + number(r.confidence) + ")";
        }).join(", ")];
      })),
      table("parts_heading", ["col_fact", "col_grade", "col_refs", "col_passage"], (why.parts || []).map(function (p, i) {
        var evidence = (parts[i] && parts[i].evidence) || { level: p.level };
        var passages = (p.passages || []).map(function (q) { return q.section + " — " + q.quote; }).join("\n");
        return [el("code", { text: p.fact || "—" }), badge(evidence), (p.refs || []).map(function (r) { return "[" + r + "]"; }).join(" "),
          el("span", { lang: "zh-Hans", className: "passage", text: passages || "—" })];
      }))
    ];
  }

  // ---- save as a review case ----------------------------------------------------------------------

  /** Fill the review case's expectations from the reply: topic, refs, flag yes/no, language. */
  function fillCase(result) {
    var payload = result.payload || {};
    $("case-question").value = result.text || "";
    $("case-topic").value = payload.topic || (result.payload ? "none" : "");
    $("case-refs").value = (payload.citations || []).map(function (c) { return c.ref; }).join(";");
    $("case-flag").value = result.payload ? ((payload.flags || []).length ? "yes" : "no") : "";
    $("case-lang").value = LANG_KEYS[payload.lang] ? payload.lang : "";
    $("case-refs").removeAttribute("aria-invalid");
  }

  function onCaseSubmit(event) {
    event.preventDefault();
    var form = event.currentTarget;
    if (isBusy(form)) { return; }
    var refs = $("case-refs").value.trim();
    if (refs && !/^\s*\d+(\s*;\s*\d+)*\s*;?\s*$/.test(refs)) {
      $("case-refs").setAttribute("aria-invalid", "true");
      say("case-status", "case_refs_invalid", {}, "error");
      $("case-refs").focus();
      return;
    }
    $("case-refs").removeAttribute("aria-invalid");
    if (!$("case-question").value.trim()) { $("case-question").focus(); return; }
    var flag = $("case-flag").value;
    var body = {
      question: $("case-question").value.trim(),
      expect_topic: $("case-topic").value.trim() || null,
      expect_refs: refs ? refs.split(";").map(function (r) { return r.trim(); }).filter(Boolean) : null,
      expect_flag: flag === "yes" ? true : flag === "no" ? false : null,
      expect_lang: $("case-lang").value || null
    };
    busy(form, true);
    api("POST", "/staff/api/review-cases", body).then(function (saved) {
      say("case-status", "case_saved", { file: saved.file }, "ok");
    }, failed("case-status")).then(function () { busy(form, false); });
  }

  // ---- conversations ------------------------------------------------------------------------------

  /** The filters as a query string (empty fields left out). */
  function filterQuery() {
    var params = new URLSearchParams();
    Array.prototype.forEach.call($("filters").elements, function (field) {
      if (!field.name || field.disabled) { return; }
      if (field.type === "checkbox") { if (field.checked) { params.append(field.name, "1"); } return; }
      if (field.value.trim()) { params.append(field.name, field.value.trim()); }
    });
    return params.toString();
  }

  function updateExportLink(query) {
    $("export-csv").setAttribute("href", "/staff/api/conversations?" + (query ? query + "&" : "") + "format=csv");
  }

  /** Load the list for the filters; only the answer to the latest request is shown. */
  function loadConversations() {
    var query = filterQuery();
    var request = (state.conversationRequest || 0) + 1;
    state.conversationRequest = request;
    updateExportLink(query);
    say("conv-count", "loading");
    return api("GET", "/staff/api/conversations" + (query ? "?" + query : "")).then(function (data) {
      if (request !== state.conversationRequest) { return; }
      state.conversations = data.conversations || [];
      renderConversationList();
      say("conv-count", state.conversations.length ? "conv_count" : "no_conversations", { n: state.conversations.length });
    }, function (error) {
      if (request === state.conversationRequest) { failed("conv-count")(error); }
    });
  }

  function signalList(row) {
    var list = el("ul", { className: "signals" });
    SIGNALS.forEach(function (name) {
      if (row[name]) { list.appendChild(el("li", { className: "signal signal-" + name, text: t("sig_" + name, { n: row[name] }) })); }
    });
    return list;
  }

  /** One conversation in a list: a button (its first question or last message) and what it is. */
  function conversationItem(row, onOpen, selectedId) {
    var label = row.first_question || (row.last_message && row.last_message.text) || row.id;
    var meta = t("conv_meta", {
      id: row.id, channel: channelName(row.channel), status: statusName(row.status),
      time: formatTime(row.last_message ? row.last_message.time : row.ended)
    });
    var button = el("button", { type: "button", className: "item-open", "data-id": row.id,
      "aria-current": row.id === selectedId ? "true" : null }, [el("span", { className: "item-title", text: label })]);
    button.addEventListener("click", function () { onOpen(row.id); });
    return el("li", { className: "item status-" + row.status, "data-id": row.id }, [
      button,
      el("p", { className: "meta", text: meta + " · " + t("conv_user_messages", { n: row.user_messages }) }),
      signalList(row)
    ]);
  }

  function renderConversationList() {
    var list = clear($("conv-list"));
    var selected = state.detail && state.detail.id;
    state.conversations.forEach(function (row) { list.appendChild(conversationItem(row, openConversation, selected)); });
  }

  function openConversation(id, focus) {
    if (!state.detail || state.detail.id !== id) { say("conv-reply-status", null); }
    return api("GET", conversationPath(id)).then(function (detail) {
      detail.id = detail.id || id;
      state.detail = detail;
      renderConversationList();
      renderConversationDetail(focus !== false);
    }, failed("conv-count"));
  }

  function backToList() {
    var id = state.detail && state.detail.id;
    state.detail = null;
    $("conv-detail").hidden = true;
    renderConversationList();
    var button = document.querySelector('#conv-list .item-open[data-id="' + (window.CSS && CSS.escape ? CSS.escape(id) : id) + '"]');
    (button || $("conv-heading")).focus();
  }

  function renderConversationDetail(focus) {
    var detail = state.detail;
    var pane = clear($("conv-detail"));
    pane.hidden = false;
    var heading = el("h2", { tabindex: "-1", className: "detail-heading", text: t("conv_detail_heading", { id: detail.id }) });
    var back = el("button", { type: "button", className: "quiet", text: t("back_to_list") });
    back.addEventListener("click", backToList);
    pane.appendChild(el("div", { className: "detail-head" }, [heading, back]));
    pane.appendChild(el("p", { className: "meta", text: detailMeta(detail) }));
    pane.appendChild(turnList(detail.messages || []));
    if (detail.status === "waiting" || detail.status === "staff") {
      pane.appendChild(replyControls(detail.id, "conv-reply-status", function () { openConversation(detail.id, false); }));
    }
    if (focus) { heading.focus(); }
  }

  function detailMeta(detail) {
    return t("conv_detail_meta", { channel: channelName(detail.channel), status: statusName(detail.status),
      started: formatTime(detail.started), ended: formatTime(detail.ended) });
  }

  /** The turns of a conversation: user, bot (with a summary of its payload) and feedback entries. */
  function turnList(messages) {
    var list = el("ol", { className: "turns", "aria-label": t("turns_label") });
    messages.forEach(function (message) { list.appendChild(turn(message)); });
    return list;
  }

  function turn(message) {
    var who = message.from === "user" ? "from_user" : message.from === "feedback" ? "from_feedback" : "from_bot";
    var item = el("li", { className: "turn turn-" + message.from }, [
      el("p", { className: "turn-head" }, [el("strong", { text: t(who) }), " · ", formatTime(message.time)])
    ]);
    if (message.from === "user") { userTurn(item, message); }
    else if (message.from === "feedback") { feedbackTurn(item, message); }
    else { botTurn(item, message); }
    return item;
  }

  function userTurn(item, message) {
    if (message.picture) {
      var picture = message.picture;
      item.appendChild(el("p", { className: "meta picture-note", text: t("user_picture", {
        lines: picture.lines, score: number(picture.score), width: picture.width, height: picture.height,
      }) }));
    }
    item.appendChild(el("p", { className: "turn-text", text: message.text || "" }));
    if (message.intent) {
      item.appendChild(el("p", { className: "meta", text: t("user_intent", { intent: message.intent, confidence: number(message.confidence) }) }));
    }
  }

  /** A bot turn: its text, and its payload in short: type, each part's grade, citations, flags. */
  function botTurn(item, message) {
    var payload = message.payload || {};
    item.appendChild(el("p", { className: "turn-text", lang: payload.lang, text: message.text || t("no_reply") }));
    var facts = [["reply_type", payload.type || "—"]];
    if (payload.topic) { facts.push(["topic", payload.topic]); }
    item.appendChild(definitions(facts));
    var byRef = citationIndex(payload);
    var parts = payload.parts || [];
    if (parts.length) {
      item.appendChild(el("ol", { className: "part-grades" }, parts.map(function (part, i) {
        return el("li", {}, [
          el("span", { className: "part-name", text: t("part_line", { n: i + 1, fact: part.fact || "—" }) }), " ",
          badge(part.evidence), chips(part.refs, byRef)
        ]);
      })));
    }
    (payload.flags || []).forEach(function (flag) {
      item.appendChild(el("p", { className: "flag-code" }, [el("span", { className: "key", lang: state.lang, text: t("flag_label") }), " ",
        el("code", { text: flag.code })]));
    });
  }

  function feedbackTurn(item, message) {
    var rating = message.rating === "not_helpful" ? "rating_not_helpful" : "rating_helpful";
    item.appendChild(el("p", { className: "rating rating-" + (message.rating || "none"), text: t(rating) }));
    if (message.reason) { item.appendChild(el("p", { className: "turn-text", text: t("feedback_reason", { reason: message.reason }) })); }
    if (message.answer_type) {
      item.appendChild(el("p", { className: "meta", text: t("feedback_about", { type: message.answer_type, facts: (message.answer_facts || []).join(", ") }) }));
    }
  }

  // ---- hand-off -----------------------------------------------------------------------------------

  /** Poll the waiting conversations (always: the tab's count and announcements) and, on the hand-off tab,
   *  the ones staff hold and the open conversation. */
  function pollHandoff(schedule) {
    var calls = [api("GET", "/staff/api/conversations?status=waiting")];
    var onTab = state.view === "handoff";
    if (onTab) { calls.push(api("GET", "/staff/api/conversations?status=staff")); }
    return Promise.all(calls).then(function (answers) {
      noticeNewWaiting(answers[0].conversations || []);
      if (onTab) { state.staff = answers[1].conversations || []; }
      state.updated = new Date().toISOString();
      renderHandoff();
      if (onTab && state.handoffId) { return refreshHandoffDetail(false); }
    }).catch(function () { /* the next poll tries again */ }).then(function () {
      if (schedule !== false) { window.setTimeout(function () { pollHandoff(true); }, POLL_SECONDS * 1000); }
    });
  }

  function noticeNewWaiting(waiting) {
    var known = state.knownWaiting;
    var fresh = known ? waiting.filter(function (row) { return !known[row.id]; }) : [];
    state.waiting = waiting;
    state.knownWaiting = {};
    waiting.forEach(function (row) { state.knownWaiting[row.id] = true; });
    if (fresh.length) {
      state.handoffNotice = fresh.length;
      announce("new_waiting", { n: fresh.length });
    }
    updateWaitingBadge();
  }

  function updateWaitingBadge() {
    var count = state.waiting ? state.waiting.length : 0;
    var node = $("waiting-badge");
    node.hidden = !count;
    node.textContent = count ? t("waiting_badge", { n: count }) : "";
    document.title = t("title") + (count ? t("page_title_waiting", { n: count }) : "");
  }

  function renderHandoff() {
    $("handoff-updated").textContent = state.updated ? t("updated_at", { time: formatTime(state.updated) }) : "";
    fillHandoffList($("waiting-list"), state.waiting || [], "none_waiting");
    fillHandoffList($("staff-list"), state.staff || [], "none_staff");
    if (state.handoffDetail) { renderHandoffDetail(false); }
  }

  function fillHandoffList(list, rows, emptyKey) {
    var focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.getAttribute("data-id") : null;
    clear(list);
    rows.forEach(function (row) { list.appendChild(conversationItem(row, selectHandoff, state.handoffId)); });
    if (!rows.length) { list.appendChild(el("li", { className: "empty muted", text: t(emptyKey) })); }
    if (focused) {
      var again = list.querySelector('.item-open[data-id="' + (window.CSS && CSS.escape ? CSS.escape(focused) : focused) + '"]');
      if (again) { again.focus(); }
    }
  }

  function selectHandoff(id) {
    state.handoffId = id;
    state.handoffDetail = null;
    say("handoff-reply-status", null);
    renderHandoff();
    return refreshHandoffDetail(true);
  }

  function refreshHandoffDetail(focus) {
    var id = state.handoffId;
    return api("GET", conversationPath(id)).then(function (detail) {
      if (state.handoffId !== id) { return; }
      detail.id = detail.id || id;
      var before = state.handoffDetail;
      state.handoffDetail = detail;
      var changed = !before || before.messages.length !== detail.messages.length || before.status !== detail.status;
      if (focus || changed) { renderHandoffDetail(focus); }
    }, failed("handoff-reply-status"));
  }

  /** The open hand-off conversation: its turns, a reply box and the Release button. The reply box is
   *  kept (with what staff typed) when the turns are drawn again. */
  function renderHandoffDetail(focus) {
    var detail = state.handoffDetail;
    var pane = $("handoff-detail");
    var kept = pane.querySelector(".reply");
    var typed = kept ? kept.querySelector("textarea").value : "";
    var hadFocus = kept && kept.contains(document.activeElement) ? document.activeElement.getAttribute("data-role") : null;
    clear(pane);
    var heading = el("h2", { tabindex: "-1", className: "detail-heading", text: t("conv_detail_heading", { id: detail.id }) });
    pane.appendChild(heading);
    pane.appendChild(el("p", { className: "meta", text: detailMeta(detail) }));
    pane.appendChild(turnList(detail.messages || []));
    var controls = replyControls(detail.id, "handoff-reply-status", function () {
      pollHandoff(false);
    });
    controls.querySelector("textarea").value = typed;
    pane.appendChild(controls);
    if (focus) { heading.focus(); }
    else if (hadFocus) { (controls.querySelector('[data-role="' + hadFocus + '"]') || controls.querySelector("textarea")).focus(); }
  }

  /** A reply box with Send and Release for conversation `id`; the outcome goes to status line `statusId`. */
  function replyControls(id, statusId, after) {
    var textId = statusId + "-text";
    var text = el("textarea", { id: textId, className: "reply-text", "data-role": "text", rows: "3", maxlength: "2000", required: true });
    var send = el("button", { type: "submit", className: "primary send", "data-role": "send", text: t("reply_send") });
    var release = el("button", { type: "button", className: "release", "data-role": "release", "aria-describedby": statusId + "-help", text: t("release") });
    var statusLine = el("p", { id: statusId, className: "status", role: "status" });
    renderStatus(statusId, statusLine);  // what the last reply or release said stays when the form is drawn again
    var form = el("form", { className: "reply" }, [
      el("label", { for: textId, text: t("reply_label") }), text,
      el("div", { className: "actions" }, [send, release]),
      el("p", { id: statusId + "-help", className: "muted", text: t("release_help") }),
      statusLine
    ]);
    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); form.requestSubmit ? form.requestSubmit() : send.click(); }
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); sendReply(form, id, statusId, after); });
    release.addEventListener("click", function () { releaseConversation(form, id, statusId, after); });
    return form;
  }

  function sendReply(form, id, statusId, after) {
    var box = form.querySelector("textarea");
    var text = box.value.trim();
    if (isBusy(form)) { return; }
    if (!text) { box.focus(); return; }
    busy(form, true);
    say(statusId, "sending");
    api("POST", conversationPath(id) + "/reply", { text: text }).then(function (result) {
      box.value = "";
      if (result.delivered) { say(statusId, "reply_delivered", {}, "ok"); }
      else { say(statusId, "reply_not_delivered", { reason: result.reason || "" }, "error"); }
      after();
    }, failed(statusId)).then(function () { busy(form, false); });
  }

  function releaseConversation(form, id, statusId, after) {
    if (isBusy(form)) { return; }
    busy(form, true);
    say(statusId, "sending");
    api("POST", conversationPath(id) + "/release").then(function (result) {
      if (result.delivered) { say(statusId, "released_delivered", {}, "ok"); }
      else { say(statusId, "released_not_delivered", { reason: result.reason || "" }, "error"); }
      after();
    }, failed(statusId)).then(function () { busy(form, false); });
  }

  // ---- review runs --------------------------------------------------------------------------------

  function loadRuns() {
    return api("GET", "/staff/api/review-runs").then(function (data) {
      var before = state.runStates;
      state.runs = data.runs || [];
      state.runFiles = data.files || [];
      state.runStates = {};
      state.runs.forEach(function (run) {
        state.runStates[run.id] = run.status;
        if (before[run.id] === "running" && run.status !== "running") {
          announce("run_finished", { id: run.id, status: t(RUN_KEYS[run.status]) });
        }
      });
      renderRuns();
      scheduleRunPoll();
    }, failed("run-status"));
  }

  function scheduleRunPoll() {
    window.clearTimeout(state.runTimer);
    var running = (state.runs || []).some(function (run) { return run.status === "running"; });
    if (running) { state.runTimer = window.setTimeout(loadRuns, RUN_POLL_MS); }
  }

  function renderRuns() {
    renderRunFiles();
    var list = clear($("runs-list"));
    state.runs.forEach(function (run) { list.appendChild(runItem(run)); });
    if (!state.runs.length) { list.appendChild(el("li", { className: "empty muted", text: t("no_runs") })); }
    renderCompareChoices();
  }

  function renderRunFiles() {
    var select = $("run-file");
    var chosen = select.value;
    clear(select);
    state.runFiles.forEach(function (file) {
      var label = file.staff ? t("run_file_staff", { name: file.name }) : file.name;
      select.appendChild(el("option", { value: file.name, text: label }));
    });
    if (chosen) { select.value = chosen; }
    if (!state.runFiles.length) { say("run-status", "no_files"); }
  }

  /** One run: id and file, status, progress, result, report and comparisons. */
  function runItem(run) {
    var progress = run.progress || { done: 0, total: 0 };
    var progressText = t("run_progress", { done: progress.done, total: progress.total });
    var item = el("li", { className: "item run run-" + run.status, "data-id": run.id }, [
      el("h3", { className: "run-title" }, [el("span", { text: run.id }), " ",
        el("span", { className: "run-status run-status-" + run.status, text: t(RUN_KEYS[run.status] || "run_failed") })]),
      el("p", { className: "meta", text: run.file + " · " + formatTime(run.started) }),
      el("div", { className: "progress-row" }, [
        el("progress", { max: String(progress.total || 1), value: String(progress.done || 0), "aria-label": progressText }),
        el("span", { className: "progress-text", text: progressText })
      ])
    ]);
    if (run.summary) { item.appendChild(el("p", { className: "result", text: t("run_result", run.summary) })); }
    if (run.error) { item.appendChild(el("p", { className: "error-text", text: run.error })); }
    var links = el("p", { className: "links" });
    if (run.report) { links.appendChild(reportLink(run.report, t("open_report_of", { id: run.id }))); }
    (run.comparisons || []).forEach(function (c) {
      links.appendChild(reportLink(c.report, t("compared_with", { id: c["with"] })));
    });
    if (links.childNodes.length) { item.appendChild(links); }
    return item;
  }

  function reportLink(href, text) {
    return el("a", { href: href, target: "_blank", rel: "noopener", className: "report-link" }, [
      text, el("span", { className: "sr-only", text: t("new_tab") })
    ]);
  }

  function onRunSubmit(event) {
    event.preventDefault();
    var form = event.currentTarget;
    if (isBusy(form)) { return; }
    var file = $("run-file").value;
    if (!file) { say("run-status", "no_files", {}, "error"); return; }
    busy(form, true);
    say("run-status", "sending");
    api("POST", "/staff/api/review-runs", { file: file }).then(function (run) {
      say("run-status", "run_started", { id: run.id }, "ok");
      state.runStates[run.id] = "running";
      return loadRuns();
    }, failed("run-status")).then(function () { busy(form, false); });
  }

  function finishedRuns() {
    return (state.runs || []).filter(function (run) { return run.status !== "running" && run.summary; });
  }

  function renderCompareChoices() {
    var runs = finishedRuns();
    $("compare-form").hidden = runs.length < 2;
    $("compare-none").hidden = runs.length >= 2;
    ["compare-new", "compare-old"].forEach(function (id, position) {
      var select = $(id);
      var chosen = select.value;
      clear(select);
      runs.forEach(function (run) { select.appendChild(el("option", { value: run.id, text: run.id + " · " + run.file })); });
      if (chosen && runs.some(function (run) { return run.id === chosen; })) { select.value = chosen; }
      else if (runs.length > position) { select.value = runs[position].id; }
    });
  }

  function onCompareSubmit(event) {
    event.preventDefault();
    var form = event.currentTarget;
    if (isBusy(form)) { return; }
    var newer = $("compare-new").value;
    var older = $("compare-old").value;
    if (finishedRuns().length < 2 || !newer || !older || newer === older) { say("compare-status", "compare_need_two", {}, "error"); return; }
    busy(form, true);
    say("compare-status", "sending");
    api("POST", "/staff/api/review-runs/" + encodeURIComponent(newer) + "/compare", { "with": older }).then(function (result) {
      state.comparison = result;
      var s = result.summary || {};
      say("compare-status", "compare_done", s, "ok");
      renderComparison();
      return loadRuns();
    }, failed("compare-status")).then(function () { busy(form, false); });
  }

  function renderComparison() {
    var node = clear($("compare-link"));
    node.hidden = !state.comparison;
    if (state.comparison) { node.appendChild(reportLink(state.comparison.report, t("open_compare"))); }
  }

  // ---- start ----------------------------------------------------------------------------------------

  function bind() {
    $("lang-switch").addEventListener("click", switchLang);
    $("test-form").addEventListener("submit", onTestSubmit);
    $("case-form").addEventListener("submit", onCaseSubmit);
    $("filters").addEventListener("submit", function (event) { event.preventDefault(); loadConversations(); });
    $("filters").addEventListener("reset", function () { window.setTimeout(loadConversations, 0); });
    $("filters").addEventListener("change", function (event) {
      if (event.target.name !== "q") { loadConversations(); }
    });
    $("run-form").addEventListener("submit", onRunSubmit);
    $("compare-form").addEventListener("submit", onCompareSubmit);
    window.addEventListener("hashchange", function () {
      var name = (window.location.hash || "").replace(/^#/, "");
      if (VIEWS.indexOf(name) >= 0) { showView(name, true); }
    });
    document.querySelector(".skip").addEventListener("click", function (event) {
      event.preventDefault();
      $("main").focus();
    });
  }

  function start() {
    state.chinese = browserChinese();
    state.lang = initialLang();
    if (state.lang !== "en") { state.chinese = state.lang; }
    applyStrings();
    bind();
    showView(viewFromHash(), false);
    pollHandoff(true);
  }

  start();
}());
