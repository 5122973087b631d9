// Rendering of the conversation: user messages, bot answers from the contract payload, the reference card.
// Every user and bot string is set with textContent (through el()); nothing is parsed as HTML.

var LEVELS = WIDGET_DATA.levels;
var DOI_PATTERN = /^10\.\d{4,9}\/\S+$/;
var PMID_PATTERN = /^\d{1,9}$/;

/**
 * The answer text without the lines the widget shows in another form: the ⚠️ lines (banner), the grade
 * line (badge) and the sources line (chips). A line is dropped only when the payload says what it is,
 * so a text the widget does not recognise is shown whole.
 */
function answerBody(text, payload) {
  var lines = String(text || "").split("\n");
  if (!payload) return lines.join("\n").trim();
  var flagMessages = (payload.flags || []).map(function (f) { return String(f.message || "").trim(); });
  lines = lines.filter(function (line) { return flagMessages.indexOf(line.trim()) < 0; });
  var dropLast = function (test) {
    for (var i = lines.length - 1; i >= 0; i--) {
      if (test(lines[i])) { lines.splice(i, 1); return; }
    }
  };
  if (payload.evidence && payload.evidence.label) {
    dropLast(function (line) { return line.indexOf(payload.evidence.label) >= 0; });
  }
  var cites = payload.citations || [];
  if (cites.length) {
    dropLast(function (line) {
      return cites.every(function (c) { return line.indexOf("[" + c.ref + "]") >= 0; });
    });
  } else if (payload.evidence && payload.source && payload.source.title) {
    // The review's own judgement: its closing line names the review, shown by the badge and source.
    dropLast(function (line) { return line.indexOf(payload.source.title) >= 0; });
  }
  return lines.join("\n").trim();
}

function levelClass(level) {
  return LEVELS.indexOf(level) >= 0 ? "exo-level-" + level.replace(/_/g, "-") : "exo-level-unknown";
}

/** A user message: its text, when it was sent and its delivery state (with "Retry" when not delivered). */
function renderUser(entry, ui) {
  var item = el("div", { className: "exo-msg exo-user", "data-from": "user", "data-id": entry.id });
  append(item,
    el("span", { className: "exo-sr" }, t(ui.lang, "you") + ": "),
    el("p", { className: "exo-text", id: "exo-text-" + entry.id }, entry.text),
    el("p", { className: "exo-meta" }));
  updateUser(item, entry, ui);
  return item;
}

/** Show a user message's current delivery state (it changes as the message is sent and answered). */
function updateUser(item, entry, ui) {
  var key = entry.state + " " + ui.lang;
  if (item.getAttribute("data-shown") === key) return;
  item.setAttribute("data-shown", key);
  item.setAttribute("data-state", entry.state);
  var meta = item.querySelector(".exo-meta");
  var active = ui.root.getRootNode().activeElement;
  var hadFocus = active && meta.contains(active);
  meta.textContent = "";
  append(meta, timeElement(entry.ts, ui.lang), el("span", { className: "exo-state" }, t(ui.lang, "state_" + entry.state)));
  if (entry.state === "failed") {
    var retry = el("button", { type: "button", className: "exo-retry", "aria-describedby": "exo-text-" + entry.id }, t(ui.lang, "retry"));
    retry.addEventListener("click", function () { ui.retry(entry.id); });
    meta.appendChild(retry);
  }
  if (hadFocus) ui.input.focus();
}

/** A bot message: flags banner, intro, each part with its grade badge and citation chips, staff view,
 * suggestions. */
function renderBot(entry, ui) {
  var payload = entry.payload && typeof entry.payload === "object" ? entry.payload : null;
  var lang = replyLang(payload, ui.lang);
  var item = el("div", {
    className: "exo-msg exo-bot", "data-from": "bot", "data-id": entry.id, lang: lang,
    "data-type": payload ? payload.type : null,
  });
  append(item, el("span", { className: "exo-sr" }, t(lang, "bot") + ": "));

  (payload && payload.flags || []).forEach(function (flag) {
    var banner = el("div", { className: "exo-flag", role: "note", "data-code": flag.code });
    append(banner,
      el("span", { className: "exo-sr" }, t(lang, "warning") + ": "),
      linkedText("span", { className: "exo-flag-text" }, flag.message));
    item.appendChild(banner);
  });

  var parts = payload && Array.isArray(payload.parts)
    ? payload.parts.filter(function (p) { return p && typeof p === "object" && p.text; })
    : [];
  if (parts.length) {
    // Contract 1.1: each part with its own grade badge and citation chips, right after its statement.
    if (payload.intro) item.appendChild(linkedText("p", { className: "exo-answer-intro" }, payload.intro));
    var byRef = {};
    (payload.citations || []).forEach(function (c) { byRef[String(c.ref)] = c; });
    parts.forEach(function (part) {
      var box = el("div", { className: "exo-part", "data-fact": part.fact || null });
      box.appendChild(linkedText("p", { className: "exo-text" }, part.text));
      if (part.evidence && part.evidence.level) box.appendChild(renderBadge(part.evidence, lang));
      var cites = (part.refs || []).map(function (n) { return byRef[String(n)]; }).filter(Boolean);
      if (cites.length) box.appendChild(renderCites(cites, lang, ui));
      var passages = part.fact && WIDGET_DATA.passages ? WIDGET_DATA.passages[part.fact] || [] : [];
      if (passages.length) box.appendChild(renderPassages(passages, lang));
      item.appendChild(box);
    });
  } else {
    // A message without parts (non-answers, other senders): its text, with what the payload explains.
    item.appendChild(linkedText("p", { className: "exo-text" }, answerBody(entry.text, payload)));
    if (payload && payload.evidence && payload.evidence.level) item.appendChild(renderBadge(payload.evidence, lang));
    var all = payload && payload.citations || [];
    if (all.length) item.appendChild(renderCites(all, lang, ui));
  }

  item.appendChild(renderActions(entry, lang, ui));

  if (payload && WIDGET_DATA.ratedTypes.indexOf(payload.type) >= 0) item.appendChild(renderFeedback(entry, lang, ui));

  if (ui.debug && payload) item.appendChild(renderStaff(entry, payload, ui));

  var suggestions = payload && payload.suggestions || entry.quickReplies || [];
  if (suggestions.length) {
    var group = el("div", { className: "exo-suggestions", role: "group", "aria-label": t(lang, "suggestions") });
    group.appendChild(el("span", { className: "exo-suggestions-key", "aria-hidden": "true" }, t(lang, "suggestions")));
    suggestions.forEach(function (s) {
      var button = el("button", { type: "button", className: "exo-suggestion" }, s.title);
      button.addEventListener("click", function () { ui.send(String(s.payload || s.title)); });
      group.appendChild(button);
    });
    item.appendChild(group);
  }
  return item;
}

/** When the answer came, and a button that copies its text (the plain-text rendering, which names the
 * grade and the sources, so it stands on its own when pasted). */
function renderActions(entry, lang, ui) {
  var row = el("div", { className: "exo-actions" });
  var copy = el("button", { type: "button", className: "exo-copy" });
  var label = el("span", { className: "exo-copy-text" }, t(lang, "copy"));
  append(copy, svgIcon("M8 3h9a2 2 0 0 1 2 2v11h-2V5H8zM5 7h9a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2zm0 2v11h9V9z", 16),
    label, el("span", { className: "exo-sr" }, t(lang, "copy_what")));
  copy.addEventListener("click", function () {
    copyText(entry.text).then(function (ok) {
      label.textContent = t(lang, ok ? "copied" : "copy_failed");
      ui.announce(t(lang, ok ? "copied" : "copy_failed"));
      setTimeout(function () { label.textContent = t(lang, "copy"); }, 2000);
    });
  });
  return append(row, timeElement(entry.ts, lang), copy);
}


/**
 * "Helpful" / "Not helpful" for one answer (contract 1.1 section 3): the pressed one shows
 * aria-pressed="true"; after "Not helpful" an optional short reason can be sent. The rating is kept with
 * the entry, so a reload shows it pressed.
 */
function renderFeedback(entry, lang, ui) {
  var box = el("div", { className: "exo-feedback", role: "group", "aria-label": t(lang, "feedback") });
  var buttons = {};
  var reasonBox = el("div", { className: "exo-feedback-reason", hidden: true });
  var thanks = el("p", { className: "exo-feedback-thanks", role: "status" });
  ["helpful", "not_helpful"].forEach(function (rating) {
    var button = el("button", {
      type: "button", className: "exo-feedback-button", "data-rating": rating,
      "aria-pressed": entry.feedback && entry.feedback.rating === rating ? "true" : "false",
    });
    append(button,
      el("span", { className: "exo-feedback-icon", "aria-hidden": "true" }, rating === "helpful" ? "👍" : "👎"),
      el("span", { className: "exo-feedback-label" }, t(lang, rating)));
    button.addEventListener("click", function () {
      Object.keys(buttons).forEach(function (r) { buttons[r].setAttribute("aria-pressed", r === rating ? "true" : "false"); });
      ui.rate(entry.id, rating, "");
      reasonBox.hidden = rating !== "not_helpful";
      thanks.textContent = t(lang, "feedback_thanks");
    });
    buttons[rating] = button;
    box.appendChild(button);
  });
  var reasonId = "exo-reason-" + Math.random().toString(36).slice(2, 10);
  var reason = el("input", {
    type: "text", id: reasonId, className: "exo-feedback-input", maxlength: WIDGET_DATA.maxFeedbackChars,
    autocomplete: "off",
  });
  var sendReason = el("button", { type: "button", className: "exo-feedback-send" }, t(lang, "feedback_send"));
  sendReason.addEventListener("click", function () {
    if (!reason.value.trim()) return;
    ui.rate(entry.id, "not_helpful", reason.value.trim());
    reasonBox.hidden = true;
    thanks.textContent = t(lang, "feedback_thanks");
  });
  reason.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.isComposing) { event.preventDefault(); sendReason.click(); }
  });
  append(reasonBox, el("label", { for: reasonId, className: "exo-feedback-reason-label" }, t(lang, "feedback_reason")),
    reason, sendReason);
  append(box, reasonBox, thanks);
  return box;
}

/** The article passages a part restates, folded: each with its section title, in the original Chinese. */
function renderPassages(passages, lang) {
  var details = el("details", { className: "exo-passages" });
  details.appendChild(el("summary", { className: "exo-passages-key" }, t(lang, "source_passages")));
  passages.forEach(function (p) {
    var quote = el("blockquote", { className: "exo-passage", lang: "zh-Hans" });
    append(quote,
      el("p", { className: "exo-passage-section" }, p.section),
      el("p", { className: "exo-passage-quote" }, p.quote));
    details.appendChild(quote);
  });
  return details;
}

/** The grade badge of one part: the level's colour, "Evidence:" and the consumer wording. */
function renderBadge(evidence, lang) {
  var badge = el("p", { className: "exo-badge " + levelClass(evidence.level), "data-level": evidence.level });
  return append(badge,
    el("span", { className: "exo-badge-key" }, t(lang, "evidence")),
    el("span", { className: "exo-badge-label" }, evidence.label));
}

/** The citation chips of one part; each opens the reference card. */
function renderCites(cites, lang, ui) {
  var list = el("div", { className: "exo-cites", role: "group", "aria-label": t(lang, "sources") });
  list.appendChild(el("span", { className: "exo-cites-key", "aria-hidden": "true" }, t(lang, "sources")));
  cites.forEach(function (cite) {
    var chip = el("button", {
      type: "button", className: "exo-chip", "data-ref": cite.ref, "aria-haspopup": "dialog",
      "aria-label": t(lang, "open_reference", { n: cite.ref, short: cite.short }),
    });
    append(chip,
      el("span", { className: "exo-chip-n" }, "[" + cite.ref + "]"),
      el("span", { className: "exo-chip-short" }, cite.short));
    chip.addEventListener("click", function () { ui.openReference(cite, lang, chip); });
    list.appendChild(chip);
  });
  return list;
}

/** The content of the reference card: full reference from the bundled list, DOI and PubMed links. */
function renderReference(cite, lang) {
  var full = WIDGET_DATA.references[String(cite.ref)] || {};
  var doi = String(cite.doi || full.doi || "");
  var pmid = String(cite.pmid || full.pmid || "");
  var body = el("div", { className: "exo-ref-body" });
  append(body, el("h3", { className: "exo-ref-title", id: "exo-ref-heading" }, t(lang, "reference_title", { n: cite.ref })));
  if (full.title) {
    append(body,
      el("p", { className: "exo-ref-authors" }, full.authors),
      el("p", { className: "exo-ref-article" }, full.title),
      el("p", { className: "exo-ref-journal" }, full.journal + " " + full.year));
  } else {
    append(body, el("p", { className: "exo-ref-article" }, cite.short));
  }
  var links = el("ul", { className: "exo-ref-links" });
  if (DOI_PATTERN.test(doi)) links.appendChild(refLink("https://doi.org/" + doi, t(lang, "doi_link"), "DOI " + doi, lang, "doi"));
  if (PMID_PATTERN.test(pmid)) {
    links.appendChild(refLink("https://pubmed.ncbi.nlm.nih.gov/" + pmid + "/", t(lang, "pubmed_link"), "PMID " + pmid, lang, "pubmed"));
  }
  body.appendChild(links);
  return body;
}

function refLink(href, label, detail, lang, kind) {
  var a = el("a", { href: href, target: "_blank", rel: "noopener noreferrer", className: "exo-ref-link", "data-kind": kind });
  append(a,
    el("span", null, label),
    el("span", { className: "exo-ref-detail" }, detail),
    el("span", { className: "exo-sr" }, t(lang, "new_tab")));
  return append(el("li"), a);
}
