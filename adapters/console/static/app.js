// SO8T console page: renders the JSON API. All message text goes through textContent (never innerHTML);
// message bodies are Markdown built into DOM nodes by markdown.js (textContent too).
"use strict";
(() => {
  const state = {
    channel: "general", channels: [], openReply: null, timer: null, lastJson: "", channelsJson: "",
    timezone: null, openCases: {}, pending: new Map(), done: new Set(), tick: 0,
  };
  const PENDING_MAX_MS = 120000;  // a "thinking…" placeholder gives up after two minutes
  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("data-") || k.startsWith("aria-")) node.setAttribute(k, v);
      else if (k === "class") node.className = v;
      else node[k] = v;
    }
    for (const c of children || []) node.appendChild(c);
    return node;
  }

  function user() { return $("#user").value.trim(); }

  // kind: "error" (red) or "ok" (green); a success is never shown in error red.
  function setStatus(text, kind) {
    const s = $("#status");
    s.textContent = text || "";
    s.className = text ? (kind || "error") : "";
  }

  // Time of a message (epoch seconds) in the bot's configured time zone, or the browser's own.
  function formatTime(ts, withDate) {
    const opts = withDate
      ? { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", timeZoneName: "short" }
      : { hour: "2-digit", minute: "2-digit" };
    const d = new Date(ts * 1000);
    try {
      if (state.timezone) return new Intl.DateTimeFormat(undefined, { ...opts, timeZone: state.timezone }).format(d);
    } catch (e) { /* unknown zone in this browser: local time below */ }
    return new Intl.DateTimeFormat(undefined, opts).format(d);
  }

  function avatar(name, isBot) {
    let h = 0;
    for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    const initial = isBot ? "S" : (Array.from(name)[0] || "?").toUpperCase();
    return el("span", { class: "avatar " + (isBot ? "bot" : "c" + (h % 8)), text: initial, "aria-hidden": "true" });
  }

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
      const li = el("li", { "data-channel": name }, [el("span", { class: "name", text: "# " + name })]);
      const open = state.openCases[name] || 0;
      if (open > 0) {
        li.appendChild(el("span", { class: "badge", text: String(open), title: open + " open case" + (open === 1 ? "" : "s") }));
      }
      if (name === state.channel) li.classList.add("active");
      li.addEventListener("click", () => {
        state.channel = name; state.lastJson = ""; document.body.classList.remove("menu-open");
        renderChannels(); refresh();
      });
      ul.appendChild(li);
    }
    $("#channel-title").textContent = "# " + state.channel;
  }

  function actionBar(msg) {
    const bar = el("div", { class: "actions" });
    // what to type, in the card's language: "Decline: Reason (optional) · Answer: Your answer to the asker"
    const hints = msg.actions.filter((a) => a.hint).map((a) => a.label + ": " + a.hint);
    const placeholder = hints.length ? hints.join(" · ") : "text for Decline (reason) or Answer";
    const input = el("input", { placeholder, "data-role": "action-text" });
    let needsText = false;
    for (const a of msg.actions) {
      const key = msg.id + ":" + a.action;
      const b = el("button", { type: "button", text: a.label, class: a.style || "default", "data-action": a.action });
      if (state.done.has(key)) b.disabled = true;
      b.addEventListener("click", async () => {
        b.disabled = true;  // one click: no second appeal / resolution while the first is on its way
        try {
          const res = await api("POST", "/api/actions",
            { message_id: msg.id, action: a.action, user: user(), text: input.value });
          state.done.add(key);
          setStatus(res.message || "", "ok");
        } catch (e) { b.disabled = false; setStatus(e.message, "error"); }
        state.lastJson = "";
        refresh();
        refreshChannels();  // the badge of open cases changes at once
      });
      bar.appendChild(b);
      if (a.action === "decline" || a.action === "answer") needsText = true;
    }
    if (needsText) bar.appendChild(input);
    return bar;
  }

  function renderMessage(msg) {
    const isBot = msg.user === "so8t";
    const body = el("div", { class: "text" });
    body.appendChild(window.SO8TMarkdown.render(msg.text));
    const time = el("time", { class: "ts", text: formatTime(msg.ts, false), title: formatTime(msg.ts, true) });
    time.setAttribute("datetime", new Date(msg.ts * 1000).toISOString());
    const content = el("div", { class: "content" }, [
      el("div", { class: "meta" }, [el("span", { class: "who" + (isBot ? " bot" : ""), text: isBot ? "SO8T" : msg.user }), time]),
      body,
    ]);
    if (msg.actions && msg.actions.length) content.appendChild(actionBar(msg));
    return el("div", { class: "msg", "data-id": msg.id, "data-kind": msg.kind, "data-user": msg.user }, [
      avatar(msg.user, isBot), content,
    ]);
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
        const res = await api("POST", "/api/messages", { channel: state.channel, user: user(), text: ta.value, thread: threadId });
        expectReply(res);
        ta.value = "";
        setStatus("");
      } catch (e) { setStatus(e.message, "error"); }
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
    if (!messages.length) box.appendChild(welcome());
    for (const [threadId, msgs] of threads) {
      const root = msgs.find((m) => m.id === threadId) || msgs[0];
      const t = el("div", { class: "thread", "data-thread": threadId }, [renderMessage(root)]);
      const replies = el("div", { class: "replies" });
      for (const m of msgs) if (m !== root) replies.appendChild(renderMessage(m));
      if (isThinking(threadId, msgs)) replies.appendChild(thinking());
      const link = el("button", { type: "button", class: "reply-link", text: "reply in thread", "data-role": "reply-open" });
      link.addEventListener("click", () => { state.openReply = threadId; state.lastJson = ""; refresh(); });
      replies.appendChild(link);
      if (state.openReply === threadId) replies.appendChild(replyBox(threadId));
      t.appendChild(replies);
      box.appendChild(t);
    }
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  function welcome() {
    const review = state.channel.endsWith("-review");
    const text = review
      ? "Welcome to #" + state.channel + ". Cases for the " + state.channel.replace(/-review$/, "") +
        " reviewers appear here as cards: Approve, Decline or Answer them."
      : "Welcome to #" + state.channel + ". Ask SO8T something below, or type /so8t help to see what it can do.";
    return el("div", { class: "welcome", text, "data-role": "welcome" });
  }

  // The user's post is waiting for the bot: a placeholder until the first bot message (or streamed token).
  function expectReply(res) {
    if (res && res.status !== "duplicate" && res.thread) {
      state.pending.set(String(res.thread), { id: String(res.id), since: Date.now() });
    }
  }

  function isThinking(threadId, msgs) {
    const p = state.pending.get(String(threadId));
    if (!p) return false;
    const mine = msgs.find((m) => String(m.id) === p.id);
    const answered = mine && msgs.some((m) => m.user === "so8t" && m.seq > mine.seq);
    if (answered || Date.now() - p.since > PENDING_MAX_MS) { state.pending.delete(String(threadId)); return false; }
    return true;
  }

  function thinking() {
    return el("div", { class: "msg thinking", "data-role": "thinking", "aria-label": "SO8T is thinking" }, [
      avatar("so8t", true),
      el("div", { class: "content" }, [el("span", { class: "who bot", text: "SO8T" }), el("span", { class: "dots", text: "thinking…" })]),
    ]);
  }

  async function refreshChannels() {
    try {
      const data = await api("GET", "/api/channels");
      const json = JSON.stringify(data);
      if (json === state.channelsJson) return;
      state.channelsJson = json;
      state.channels = data.channels;
      state.timezone = data.timezone || null;
      state.openCases = data.open_cases || {};
      renderChannels();
    } catch (e) { setStatus(e.message, "error"); }
  }

  async function refresh() {
    try {
      const messages = await api("GET", "/api/messages?channel=" + encodeURIComponent(state.channel));
      const json = JSON.stringify(messages) + state.openReply + JSON.stringify([...state.pending.keys()]);
      const f = document.activeElement;
      const typing = f && (f.tagName === "TEXTAREA" || f.tagName === "INPUT") && f.closest("#messages") && f.value;
      if (json !== state.lastJson && !typing) { state.lastJson = json; render(messages); }
    } catch (e) { setStatus(e.message, "error"); }
  }

  function tick() {
    state.tick += 1;
    if (state.tick % 4 === 0) refreshChannels();  // badges every ~3 s
    refresh();
  }

  async function start() {
    await refreshChannels();
    $("#menu-toggle").addEventListener("click", () => {
      const open = document.body.classList.toggle("menu-open");
      $("#menu-toggle").setAttribute("aria-expanded", String(open));
    });
    for (const b of document.querySelectorAll("#quick-users button")) {
      b.addEventListener("click", () => { $("#user").value = b.dataset.user; });
    }
    $("#composer").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const ta = $("#text");
      if (!ta.value.trim()) { setStatus("text is empty"); return; }
      try {
        const res = await api("POST", "/api/messages", { channel: state.channel, user: user(), text: ta.value });
        expectReply(res);
        ta.value = "";
        setStatus("");
      } catch (e) { setStatus(e.message, "error"); }
      refresh();
    });
    $("#text").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("#composer").requestSubmit(); }
    });
    await refresh();
    state.timer = setInterval(tick, 700);
  }

  start();
})();
