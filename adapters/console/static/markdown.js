// A tiny Markdown renderer for message bodies: headings, bold, inline code, code blocks, lists, tables,
// block quotes and http(s)/mailto links. It builds DOM nodes and sets every piece of text with
// textContent, never innerHTML, so text from users and the model can never become markup.
// Hand-written rather than a library: the console loads nothing from a CDN or the network, and the
// page's content security policy (script-src 'self') only runs our own files; a library that returns
// an HTML string would also need innerHTML, which this page never uses.
"use strict";
(() => {
  const FENCE = /^\s*```/;
  const HEADING = /^(#{1,6})\s+(.*)$/;
  const BULLET = /^\s*[-*+]\s+(.*)$/;
  const NUMBERED = /^\s*\d{1,9}[.)]\s+(.*)$/;
  const TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;
  const QUOTE = /^>\s?(.*)$/;
  const INLINE = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|\[([^\]\n]+)\]\(((?:https?:\/\/|mailto:)[^\s)]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

  function node(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function link(href, label) {
    const a = node("a", "md-link");
    a.textContent = label;
    a.setAttribute("href", href);  // only http(s) and mailto reach here (see INLINE)
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer");
    return a;
  }

  // Inline spans into parent: `code`, **bold**, [label](url) and bare URLs; the rest as text nodes.
  function inline(parent, text) {
    let last = 0;
    const re = new RegExp(INLINE.source, "g");  // own lastIndex: bold text recurses into inline()
    for (let m; (m = re.exec(text)) !== null;) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1] !== undefined) parent.appendChild(node("code", "md-code", m[2]));
      else if (m[3] !== undefined) { const b = node("strong"); inline(b, m[3]); parent.appendChild(b); }
      else if (m[4] !== undefined) parent.appendChild(link(m[5], m[4]));
      else parent.appendChild(link(m[6], m[6]));
      last = re.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    return parent;
  }

  function cells(line) {
    let s = line.trim();
    if (s.startsWith("|")) s = s.slice(1);
    if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
    return s.split("|").map((c) => c.trim());
  }

  function table(header, sep, rows) {
    const align = cells(sep).map((c) => (c.endsWith(":") ? (c.startsWith(":") ? "center" : "right") : ""));
    const t = node("table", "md-table");
    const head = node("thead");
    const hr = node("tr");
    cells(header).forEach((c, i) => { const th = inline(node("th", align[i] ? "md-" + align[i] : ""), c); hr.appendChild(th); });
    head.appendChild(hr);
    const body = node("tbody");
    for (const row of rows) {
      const tr = node("tr");
      cells(row).forEach((c, i) => tr.appendChild(inline(node("td", align[i] ? "md-" + align[i] : ""), c)));
      body.appendChild(tr);
    }
    t.append(head, body);
    const wrap = node("div", "md-table-wrap");
    wrap.appendChild(t);
    return wrap;
  }

  function render(text) {
    const out = document.createDocumentFragment();
    const lines = String(text).split("\n");
    let para = null;
    const endPara = () => { para = null; };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      let m;
      if (FENCE.test(line)) {
        const body = [];
        for (i++; i < lines.length && !FENCE.test(lines[i]); i++) body.push(lines[i]);
        const pre = node("pre", "md-pre");
        pre.appendChild(node("code", null, body.join("\n")));
        out.appendChild(pre); endPara();
      } else if ((m = HEADING.exec(line))) {
        const level = Math.min(m[1].length + 2, 6);
        out.appendChild(inline(node("h" + level, "md-h"), m[2].replace(/\s+#+\s*$/, ""))); endPara();
      } else if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes("-")) {
        const rows = [];
        let j = i + 2;
        for (; j < lines.length && lines[j].includes("|") && lines[j].trim(); j++) rows.push(lines[j]);
        out.appendChild(table(line, lines[i + 1], rows)); endPara();
        i = j - 1;
      } else if (BULLET.test(line) || NUMBERED.test(line)) {
        const ordered = !BULLET.test(line);
        const re = ordered ? NUMBERED : BULLET;
        const list = node(ordered ? "ol" : "ul", "md-list");
        for (; i < lines.length && (m = re.exec(lines[i])); i++) list.appendChild(inline(node("li"), m[1]));
        i--;
        out.appendChild(list); endPara();
      } else if ((m = QUOTE.exec(line))) {
        const q = node("blockquote", "md-quote");
        const parts = [];
        for (; i < lines.length && (m = QUOTE.exec(lines[i])); i++) parts.push(m[1]);
        i--;
        parts.forEach((p, k) => { if (k) q.appendChild(node("br")); inline(q, p); });
        out.appendChild(q); endPara();
      } else if (!line.trim()) {
        endPara();
      } else {
        if (!para) { para = node("p", "md-p"); out.appendChild(para); }
        else para.appendChild(node("br"));
        inline(para, line);
      }
    }
    return out;
  }

  window.SO8TMarkdown = { render };
})();
