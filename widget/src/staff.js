// Staff view of the exobot widget (demo page with ?debug=1, or data-debug="1"): under each answer, what
// the bot's contract payload says about it, then why (the server's `bot_explained`, bot/explain.py): the
// intent ranking, the entities, the normalised text and the fact ranking with its scores; and a button
// that copies the payload as JSON.

/** The staff view of one bot message. */
function renderStaff(entry, payload, ui) {
  var lang = ui.lang;
  var box = el("div", { className: "exo-debug", role: "group", "aria-label": t(lang, "debug_heading") });
  var list = el("dl", { className: "exo-debug-fields" });
  var flags = (payload.flags || []).map(function (f) { return f && f.code; }).filter(Boolean);
  var rows = [
    ["type", "debug_type", payload.type],
    ["intent", "debug_intent", payload.intent],
    ["confidence", "debug_confidence", typeof payload.confidence === "number" ? payload.confidence.toFixed(2) : ""],
    ["lang", "debug_lang", payload.lang],
    ["topic", "debug_topic", payload.topic],
    ["facts", "debug_facts", (payload.facts || []).join(", ")],
    ["level", "debug_level", payload.evidence ? payload.evidence.level : ""],
    ["flags", "debug_flags", flags.join(", ")],
    ["parts", "debug_parts", renderStaffParts(payload)],
    ["session", "debug_session", ui.store.state.sessionId],
    ["reply_to", "debug_reply_to", entry.replyTo],
  ];
  var why = entry.why && typeof entry.why === "object" ? entry.why : null;
  if (why) {
    rows.push(
      ["intent_ranking", "debug_intent_ranking", renderScores(why.intent_ranking, "name")],
      ["entities", "debug_entities", (why.entities || []).map(function (e) {
        return e && e.entity ? e.entity + "=" + e.value : "";
      }).filter(Boolean).join(", ")],
      ["normalised", "debug_normalised", why.normalised_text || ""],
      ["fact_ranking", "debug_fact_ranking", renderScores(why.fact_ranking, "fact")]
    );
  }
  rows.forEach(function (row) {
    var value = row[2];
    var dd = el("dd", { "data-field": row[0] });
    if (value && typeof value === "object") dd.appendChild(value);
    else dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
    append(list, el("dt", null, t(lang, row[1])), dd);
  });
  var copy = el("button", { type: "button", className: "exo-debug-copy" }, t(lang, "debug_copy"));
  copy.addEventListener("click", function () {
    copyText(JSON.stringify(payload, null, 2)).then(function (ok) {
      copy.textContent = t(lang, ok ? "copied" : "copy_failed");
      ui.announce(t(lang, ok ? "copied" : "copy_failed"));
      setTimeout(function () { copy.textContent = t(lang, "debug_copy"); }, 2000);
    });
  });
  return append(box, list, copy);
}

/** A ranking (intents or facts) as a list of "name 0.93", best first, at most five. */
function renderScores(ranking, key) {
  var items = (Array.isArray(ranking) ? ranking : []).filter(function (r) { return r && r[key]; }).slice(0, 5);
  if (!items.length) return "";
  var list = el("ol", { className: "exo-debug-scores" });
  items.forEach(function (r) {
    var score = typeof r.confidence === "number" ? r.confidence.toFixed(2) : "";
    list.appendChild(el("li", { "data-name": String(r[key]), "data-score": score }, String(r[key]) + " " + score));
  });
  return list;
}

/** The parts of an answer in order: fact id, its evidence level and its reference numbers. */
function renderStaffParts(payload) {
  var parts = Array.isArray(payload.parts) ? payload.parts.filter(function (p) { return p && typeof p === "object"; }) : [];
  if (!parts.length) return "";
  var list = el("ol", { className: "exo-debug-parts" });
  parts.forEach(function (part) {
    var level = part.evidence && part.evidence.level || "—";
    var refs = (part.refs || []).map(function (n) { return "[" + n + "]"; }).join("");
    list.appendChild(el("li", { "data-fact": part.fact || null, "data-level": level },
      (part.fact || "?") + " · " + level + (refs ? " · " + refs : "")));
  });
  return list;
}
