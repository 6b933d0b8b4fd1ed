// SO8T console page: renders the JSON API. All message text goes through textContent (never innerHTML).
"use strict";
(() => {
  const state = { channel: "general", channels: [], openReply: null, timer: null, lastJson: "" };
  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else if (k === "class") node.className = v;
      else node[k] = v;
    }
    for (const c of children || []) node.appendChild(c);
    return node;
  }

  function user() { return $("#user").value.trim(); }

  function setStatus(text) { $("#status").textContent = text || ""; }

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) throw new Error((data && data.error) || ("HTTP " + res.status));
    return data;
  }

  function renderChannels() {
    const ul = $("#channels");
    ul.replaceChildren();
    for (const name of state.channels) {
      const li = el("li", { text: "# " + name, "data-channel": name });
      if (name === state.channel) li.classList.add("active");
      li.addEventListener("click", () => { state.channel = name; state.lastJson = ""; renderChannels(); refresh(); });
      ul.appendChild(li);
    }
    $("#channel-title").textContent = "# " + state.channel;
  }

  function actionBar(msg) {
    const bar = el("div", { class: "actions" });
    const input = el("input", { placeholder: "text for Decline (reason) or Answer", "data-role": "action-text" });
    let needsText = false;
    for (const a of msg.actions) {
      const b = el("button", { type: "button", text: a.label, class: a.style || "", "data-action": a.action });
      b.addEventListener("click", async () => {
        try {
          const res = await api("POST", "/api/actions",
            { message_id: msg.id, action: a.action, user: user(), text: input.value });
          setStatus(res.message || "");
        } catch (e) { setStatus(e.message); }
        refresh();
      });
      bar.appendChild(b);
      if (a.action === "decline" || a.action === "answer") needsText = true;
    }
    if (needsText) bar.appendChild(input);
    return bar;
  }

  function renderMessage(msg) {
    const isBot = msg.user === "so8t";
    const node = el("div", { class: "msg", "data-id": msg.id, "data-kind": msg.kind, "data-user": msg.user }, [
      el("span", { class: "who" + (isBot ? " bot" : ""), text: isBot ? "SO8T" : msg.user }),
      el("span", { class: "text", text: msg.text }),
    ]);
    if (msg.actions && msg.actions.length) node.appendChild(actionBar(msg));
    return node;
  }

  function replyBox(threadId) {
    const box = el("form", { class: "reply-box" });
    const ta = el("textarea", { rows: 1, placeholder: "Reply in thread", "data-role": "reply-text" });
    const send = el("button", { type: "submit", text: "Reply", "data-role": "reply-send" });
    box.append(ta, send);
    box.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!ta.value.trim()) return;
      try {
        await api("POST", "/api/messages", { channel: state.channel, user: user(), text: ta.value, thread: threadId });
        ta.value = "";
        setStatus("");
      } catch (e) { setStatus(e.message); }
      refresh();
    });
    return box;
  }

  function render(messages) {
    const threads = new Map();
    for (const m of messages) {
      if (!threads.has(m.thread)) threads.set(m.thread, []);
      threads.get(m.thread).push(m);
    }
    const box = $("#messages");
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 20;
    box.replaceChildren();
    for (const [threadId, msgs] of threads) {
      const root = msgs.find((m) => m.id === threadId) || msgs[0];
      const t = el("div", { class: "thread", "data-thread": threadId }, [renderMessage(root)]);
      const replies = el("div", { class: "replies" });
      for (const m of msgs) if (m !== root) replies.appendChild(renderMessage(m));
      const link = el("button", { type: "button", class: "reply-link", text: "reply in thread", "data-role": "reply-open" });
      link.addEventListener("click", () => { state.openReply = threadId; state.lastJson = ""; refresh(); });
      replies.appendChild(link);
      if (state.openReply === threadId) replies.appendChild(replyBox(threadId));
      t.appendChild(replies);
      box.appendChild(t);
    }
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  async function refresh() {
    try {
      const messages = await api("GET", "/api/messages?channel=" + encodeURIComponent(state.channel));
      const json = JSON.stringify(messages) + state.openReply;
      const f = document.activeElement;
      const typing = f && (f.tagName === "TEXTAREA" || f.tagName === "INPUT") && f.closest("#messages") && f.value;
      if (json !== state.lastJson && !typing) { state.lastJson = json; render(messages); }
    } catch (e) { setStatus(e.message); }
  }

  async function start() {
    const data = await api("GET", "/api/channels");
    state.channels = data.channels;
    renderChannels();
    for (const b of document.querySelectorAll("#quick-users button")) {
      b.addEventListener("click", () => { $("#user").value = b.dataset.user; });
    }
    $("#composer").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const ta = $("#text");
      if (!ta.value.trim()) { setStatus("text is empty"); return; }
      try {
        await api("POST", "/api/messages", { channel: state.channel, user: user(), text: ta.value });
        ta.value = "";
        setStatus("");
      } catch (e) { setStatus(e.message); }
      refresh();
    });
    $("#text").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("#composer").requestSubmit(); }
    });
    await refresh();
    state.timer = setInterval(refresh, 700);
  }

  start();
})();
