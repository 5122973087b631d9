// Pictures of ads and screenshots (issue 18): attached with the picture button or pasted into the input.
// Checked here first (type and size, WIDGET_DATA.pictureTypes / maxPictureBytes), then posted as they are
// to our own server (POST /webhooks/socketio/picture?session_id&client_id&ui_lang, bot/channels/socketio.py),
// which reads the text in them and answers over socket.io like a typed message (`user_received`, then
// `bot_uttered` with reply_to). The picture is never shown back as HTML: the user's message shows a label,
// and nothing of the picture is kept in the browser's storage.

function Pictures(widget) {
  this.widget = widget;
}

/** The picture button (before `before`, the send button) and its hidden file input. */
Pictures.prototype.build = function (form, before) {
  var self = this;
  this.input = el("input", {
    type: "file", className: "exo-file", accept: WIDGET_DATA.pictureTypes.join(","), tabindex: "-1", "aria-hidden": "true",
  });
  this.button = el("button", { type: "button", className: "exo-attach" });
  this.label = el("span", { className: "exo-sr" });
  append(this.button, pictureIcon(), this.label);
  this.button.addEventListener("click", function () { self.input.click(); });
  this.input.addEventListener("change", function () {
    var file = self.input.files && self.input.files[0];
    self.input.value = "";
    if (file) self.send(file);
  });
  form.insertBefore(this.button, before);
  form.appendChild(this.input);
};

Pictures.prototype.applyLang = function (lang) {
  this.label.textContent = t(lang, "attach_picture");
  this.button.setAttribute("title", t(lang, "attach_picture"));
};

/** A pasted picture (a screenshot copied to the clipboard) is sent; true when the paste was one. */
Pictures.prototype.fromPaste = function (event) {
  var items = event.clipboardData && event.clipboardData.items;
  if (!items) return false;
  for (var i = 0; i < items.length; i++) {
    if (items[i].kind === "file" && /^image\//.test(items[i].type)) {
      var file = items[i].getAsFile();
      if (!file) continue;
      event.preventDefault();
      this.send(file);
      return true;
    }
  }
  return false;
};

/** Check a picture, show it as the user's message (a label) and post it; the answer comes over socket.io. */
Pictures.prototype.send = function (file) {
  var w = this.widget;
  if (WIDGET_DATA.pictureTypes.indexOf(file.type) < 0) {
    w.showNotice(t(w.lang, "picture_type"));
    return;
  }
  if (file.size > WIDGET_DATA.maxPictureBytes) {
    w.showNotice(t(w.lang, "picture_too_large", { mb: Math.round(WIDGET_DATA.maxPictureBytes / 1048576) }));
    return;
  }
  w.showNotice("");
  var entry = { id: newId(), from: "user", text: t(w.lang, "picture_sent"), picture: true, ts: Date.now(), state: "sending", attempts: 1 };
  w.store.add(entry);
  w.connection.emitted[entry.id] = true;  // its replies count as unread in this tab
  var query = "session_id=" + encodeURIComponent(w.store.state.sessionId) + "&client_id=" + encodeURIComponent(entry.id) +
    "&ui_lang=" + encodeURIComponent(w.store.state.lang || w.options.lang);
  var failed = function () {
    var current = w.store.find(entry.id);
    if (current && current.state !== "answered") {
      current.state = "failed";
      w.store.commit();
    }
    w.showNotice(t(w.lang, "picture_failed"));
  };
  fetch(w.options.server.replace(/\/$/, "") + "/webhooks/socketio/picture?" + query, {
    method: "POST", body: file, headers: { "Content-Type": file.type },
  }).then(function (response) {
    if (!response.ok) failed();
  }, failed);
  w.input.focus();
};

function pictureIcon() {
  return svgIcon("M4 5h16a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1zm1 12h14l-4.5-6-3.5 4.5-2.5-3L5 17zm3-7.5a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3z", 22);
}
