// Marquee's homepage: remote-style keyboard navigation across rows, click feedback for artwork
// decisions, search as you type, and Play. No dependencies; every request goes to this host.
"use strict";
(() => {
  const body = document.body;
  const member = JSON.parse(body.dataset.member || "null");
  const device = body.dataset.device || "web";
  const post = (url, data, timeoutMs) => {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs || 2000);
    return fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(data),
                        keepalive: true, signal: ctl.signal }).finally(() => clearTimeout(timer));
  };

  // ---- Arrow keys move between tiles as a TV remote does: along a row, and up/down to the nearest column.
  const rows = () => Array.from(document.querySelectorAll(".strip")).map((s) => Array.from(s.querySelectorAll(".tile")));
  const focusTile = (tile) => { if (tile) { tile.focus({ preventScroll: true }); tile.scrollIntoView({ block: "nearest", inline: "nearest" }); } };
  document.addEventListener("keydown", (ev) => {
    if (!["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].includes(ev.key) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const el = document.activeElement;
    if (el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.closest(".search"))) return;
    const grid = rows();
    if (!grid.length) return;
    let r = -1, c = -1;
    grid.forEach((row, i) => { const j = row.indexOf(el); if (j >= 0) { r = i; c = j; } });
    if (r < 0) { if (ev.key === "ArrowDown" || ev.key === "ArrowRight") { focusTile(grid[0][0]); ev.preventDefault(); } return; }
    if (ev.key === "ArrowLeft") c = Math.max(0, c - 1);
    if (ev.key === "ArrowRight") c = Math.min(grid[r].length - 1, c + 1);
    if (ev.key === "ArrowUp") { if (r === 0) return; r -= 1; c = Math.min(c, grid[r].length - 1); }
    if (ev.key === "ArrowDown") { if (r === grid.length - 1) return; r += 1; c = Math.min(c, grid[r].length - 1); }
    focusTile(grid[r][c]);
    ev.preventDefault();
  });

  // ---- A click on a tile is the reward of its artwork decision, logged before the title opens.
  document.addEventListener("click", (ev) => {
    const tile = ev.target.closest && ev.target.closest("a.tile[data-decision]");
    if (!tile || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    ev.preventDefault();
    const go = () => { window.location.href = tile.href; };
    post("/v1/feedback", { decision_id: tile.dataset.decision, reward: 1 }, 1500).then(go, go);
  });

  // ---- Search as you type.
  const q = document.getElementById("q");
  const results = document.getElementById("results");
  if (q && results) {
    let seq = 0, timer = 0;
    const show = (items, n) => {
      if (n !== seq) return;
      results.replaceChildren(...items.map((it) => {
        const li = document.createElement("li");
        const a = document.createElement("a");
        const params = new URLSearchParams({ device });
        if (member !== null) params.set("member", String(member));
        a.href = `/title/${encodeURIComponent(String(it.title_id))}?${params}`;
        a.textContent = it.title;
        a.setAttribute("role", "option");
        li.append(a);
        return li;
      }));
    };
    q.addEventListener("input", () => {
      clearTimeout(timer);
      const text = q.value;
      const n = ++seq;
      if (!text.trim()) { results.replaceChildren(); return; }
      timer = setTimeout(() => {
        const params = new URLSearchParams({ q: text, k: "8" });
        if (member !== null) params.set("member_id", String(member));
        fetch(`/v1/search?${params}`).then((r) => (r.ok ? r.json() : { results: [] })).then((d) => show(d.results || [], n), () => show([], n));
      }, 60);
    });
    q.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown") { const first = results.querySelector("a"); if (first) { first.focus(); ev.preventDefault(); ev.stopPropagation(); } }
      if (ev.key === "Escape") { q.value = ""; results.replaceChildren(); }
    });
    results.addEventListener("keydown", (ev) => {
      const links = Array.from(results.querySelectorAll("a"));
      const i = links.indexOf(document.activeElement);
      if (ev.key === "ArrowDown" && i < links.length - 1) { links[i + 1].focus(); ev.preventDefault(); ev.stopPropagation(); }
      if (ev.key === "ArrowUp") { (i > 0 ? links[i - 1] : q).focus(); ev.preventDefault(); ev.stopPropagation(); }
    });
  }

  // ---- The device menu reloads the page for that device.
  const deviceMenu = document.getElementById("device");
  if (deviceMenu) deviceMenu.addEventListener("change", () => deviceMenu.form.submit());

  // ---- The profile form opens any member id.
  const form = document.querySelector(".member-form");
  if (form) form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = form.querySelector("input").value.trim();
    if (id) window.location.href = `/home/${encodeURIComponent(id)}`;
  });

  // ---- Play: one simulated playback session on this device.
  const play = document.getElementById("play");
  const out = document.getElementById("playback");
  if (play && out) {
    play.addEventListener("click", () => {
      play.disabled = true;
      out.textContent = "Playing…";
      post("/home/play", { member_id: member, title_id: JSON.parse(play.dataset.titleJson), device }, 10000)
        .then((r) => r.json().then((d) => ({ ok: r.ok, d })))
        .then(({ ok, d }) => {
          if (!ok) { out.textContent = d.detail || "Could not play."; return; }
          const rowsOut = [
            ["Start-up delay", `${d.startup_delay_s.toFixed(2)} s`],
            ["Picture quality", `${d.mean_quality.toFixed(1)} ${d.quality_unit}`],
            ["Average bitrate", `${Math.round(d.mean_bitrate_kbps)} kbps`],
            ["Rebuffering", `${d.rebuffer_s.toFixed(2)} s (${(100 * d.rebuffer_ratio).toFixed(1)}%)`],
            ["Quality switches", String(d.switches)],
            ["Network", `${d.network} (${d.trace}) on a ${d.device_class}, ${d.scheme}`],
          ];
          const dl = document.createElement("dl");
          dl.id = "playback-result";
          for (const [k, v] of rowsOut) { const dt = document.createElement("dt"); dt.textContent = k; const dd = document.createElement("dd"); dd.textContent = v; dl.append(dt, dd); }
          out.replaceChildren(dl);
        })
        .catch(() => { out.textContent = "Could not play."; })
        .finally(() => { play.disabled = false; });
    });
  }
})();
