// The dashboard's behaviour on top of htmx: sign-in, messages, refreshes, filters, the chart.
(function () {
  "use strict";

  const notice = () => document.getElementById("notice");

  function say(text, kind) {
    const box = notice();
    box.textContent = text;
    box.className = kind || "info";
    box.hidden = false;
  }

  // The API's error envelope carries a sentence saying what went wrong and what to do.
  function envelopeMessage(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) return body.error.message;
    } catch (ignored) { /* not JSON: fall through */ }
    if (xhr.status === 0) return "The server did not answer; check that the API is running, then retry.";
    return "The server answered " + xhr.status + "; retry, or see the API's log.";
  }

  document.addEventListener("htmx:configRequest", (event) => {
    const form = event.detail.elt;
    // The sign-in form sends its key as the API expects it, never as a form field.
    if (form.hasAttribute && form.hasAttribute("data-key-header")) {
      event.detail.headers["X-API-Key"] = form.elements.key.value.trim();
      delete event.detail.parameters.key;
      if (event.detail.formData) event.detail.formData.delete("key");
    }
  });

  document.addEventListener("htmx:afterRequest", (event) => {
    const elt = event.detail.elt;
    const xhr = event.detail.xhr;
    if (!xhr) return;
    if (event.detail.successful) {
      if (elt.dataset.done) say(elt.dataset.done, "ok");
      if (elt.tagName === "FORM" && elt.id === "add") elt.reset();
      if (elt.dataset.refresh !== undefined) {
        // An empty target means "this page": its status and buttons change with the task.
        if (elt.dataset.refresh) htmx.trigger(elt.dataset.refresh, "refresh");
        else window.location.reload();
      }
      return;
    }
    if (xhr.status === 401 && !elt.hasAttribute("data-key-header")) {
      window.location.assign("/signin");
      return;
    }
    say(envelopeMessage(xhr), "error");
  });

  document.addEventListener("htmx:sendError", () => {
    say("The server did not answer; check that the API is running, then retry.", "error");
  });

  // ---- The targets table -------------------------------------------------------------

  // Typing in the filter (or picking a status or tag) reloads the table from its first page,
  // a moment after the last key.
  document.addEventListener("input", (event) => {
    const form = event.target.closest && event.target.closest("#filter");
    if (!form) return;
    form.elements.page.value = "1";
    clearTimeout(form.pending);
    form.pending = setTimeout(() => htmx.trigger("#targets", "refresh"), 250);
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest(".pager button[data-page]");
    if (!button) return;
    document.getElementById("filter").elements.page.value = button.dataset.page;
    htmx.trigger("#targets", "refresh");
  });

  // The poll would close an interval menu the user has open: it waits for the next turn.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const active = document.activeElement;
    if (event.detail.elt.id === "targets" && active && active.tagName === "SELECT"
        && event.detail.elt.contains(active)) event.preventDefault();
  });

  // The address keeps the filter and page (the server may have moved a page past the last
  // one back to it), so a reload or a shared link shows the same table.
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id !== "targets") return;
    const form = document.getElementById("filter");
    const shown = event.detail.target.querySelector("[data-page-number]");
    form.elements.page.value = shown ? shown.dataset.pageNumber : "1";
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (value !== "" && !(name === "page" && value === "1")) query.set(name, value);
    }
    window.history.replaceState(null, "", "/?" + query);
  });

  // A pasted list: one target a line (commas and spaces also separate), "@" and blanks dropped.
  function pastedLines(selector) {
    return document.querySelector(selector).value.split(/[\s,]+/)
      .map((line) => line.trim()).filter((line) => line !== "");
  }

  function pastedTags(selector) {
    return document.querySelector(selector).value.split(",")
      .map((tag) => tag.trim()).filter((tag) => tag !== "");
  }

  window.Dashboard = { pastedLines, pastedTags };

  document.addEventListener("htmx:confirm", (event) => {
    const form = event.detail.elt;
    if (!form.dataset || form.dataset.bulk === undefined) return;
    if (!pastedLines("#bulk-targets").length) {
      event.preventDefault();
      say("Paste at least one target, one per line.", "error");
    }
  });

  // Where each answer's input was pasted, so the message can point at the line.
  function lineOf(input) {
    const lines = document.getElementById("bulk-targets").value.split("\n");
    const index = lines.findIndex((line) => line.split(/[\s,]+/).includes(input));
    return index < 0 ? "" : "line " + (index + 1) + ": ";
  }

  function bulkMessage(outcome) {
    const parts = [outcome.created.length + " added"];
    if (outcome.existing.length) {
      parts.push(outcome.existing.length + " already monitored ("
        + outcome.existing.map((item) => lineOf(item.input) + item.input).join(", ") + ")");
    }
    if (outcome.invalid.length) {
      parts.push(outcome.invalid.length + " not added: "
        + outcome.invalid.map((item) => lineOf(item.input) + item.input + " — " + item.message).join("; "));
    }
    return parts.join("; ") + ".";
  }

  document.addEventListener("htmx:afterRequest", (event) => {
    const elt = event.detail.elt;
    if (!event.detail.successful || !event.detail.xhr || !elt.dataset) return;
    if (elt.dataset.bulk !== undefined) {
      const outcome = JSON.parse(event.detail.xhr.responseText).data;
      say(bulkMessage(outcome), outcome.invalid.length ? "error" : "ok");
      // What was not added stays in the box, to be corrected and sent again.
      document.getElementById("bulk-targets").value = outcome.invalid.map((item) => item.input).join("\n");
    }
    if (elt.dataset.intervalOf) {
      say(elt.dataset.intervalOf + " is now collected every " + elt.value + ", from its next slot.", "ok");
    }
  });

  // ---- The history chart -------------------------------------------------------------

  const SERIES = {
    influencer: [["follower_count", "Followers", "#2563eb"], ["following_count", "Following", "#9333ea"],
                 ["post_count", "Posts", "#ea580c"]],
    post: [["like_count", "Likes", "#db2777"], ["comment_count", "Comments", "#0d9488"],
           ["play_count", "Plays", "#4f46e5"]],
  };
  const MAX_POINTS = 1000; // the API's largest page

  // The finest view whose points fit in the chart's width: every point, one an hour, one a day.
  function plan(rangeSeconds, intervalSeconds, pixels) {
    const limit = Math.max(2, Math.min(MAX_POINTS, Math.floor(pixels)));
    if (rangeSeconds / intervalSeconds <= limit) return { granularity: "raw", limit };
    if (rangeSeconds / 3600 <= limit) return { granularity: "hour", limit };
    return { granularity: "day", limit };
  }

  function columns(history, fields) {
    const points = history.slice().reverse(); // the API answers newest first
    const data = [points.map((p) => Date.parse(p.recorded_at) / 1000)];
    for (const field of fields) data.push(points.map((p) => p[field]));
    return data;
  }

  function anomalyMarks(anomalies) {
    return {
      hooks: {
        draw: [(u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#dc2626";
          ctx.fillStyle = "#dc2626";
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.setLineDash([6, 4]);
          for (const anomaly of anomalies) {
            // An anomaly is a UTC day: mark its middle.
            const x = u.valToPos(Date.parse(anomaly.date + "T12:00:00Z") / 1000, "x", true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          }
          ctx.restore();
        }],
      },
    };
  }

  // An axis as wide as its longest label (follower counts run to ten characters and more).
  function labelWidth(self, values) {
    const longest = values ? Math.max(0, ...values.map((v) => String(v).length)) : 0;
    return Math.max(40, Math.ceil(longest * 7.5) + 22);
  }

  function setUpChart(box) {
    const kind = box.dataset.kind;
    const series = SERIES[kind];
    const interval = Number(box.dataset.interval);
    const anomalies = JSON.parse(box.dataset.anomalies || "[]");
    const note = document.getElementById("chart-note");
    let chart = null;
    let range = "604800";

    async function fetchView(view, since) {
      const query = new URLSearchParams({ granularity: view.granularity, limit: String(view.limit) });
      if (since !== null) query.set("since", new Date(since * 1000).toISOString());
      const response = await fetch(box.dataset.historyUrl + "?" + query, { headers: { Accept: "application/json" } });
      if (response.status === 401) { window.location.assign("/signin"); return null; }
      const body = await response.json();
      if (!response.ok) throw new Error(body.error.message);
      return body.data.history;
    }

    // A range picked while another loads: only the last one asked for may draw.
    let loads = 0;

    async function load() {
      const ticket = ++loads;
      box.dataset.rangeLoaded = "false";
      const width = box.clientWidth;
      const now = Date.now() / 1000;
      let view, history;
      try {
        if (range === "all") {
          // How far back the history goes is known only from the data: one point a day says,
          // then a finer view is asked for when it fits.
          view = plan(Infinity, interval, width);
          history = await fetchView(view, null);
          if (history && history.length) {
            const oldest = Date.parse(history[history.length - 1].recorded_at) / 1000;
            const finer = plan(Math.max(now - oldest, interval), interval, width);
            if (finer.granularity !== "day") {
              view = finer;
              history = await fetchView(view, oldest - 86400);
            }
          }
        } else {
          const seconds = Number(range);
          view = plan(seconds, interval, width);
          history = await fetchView(view, now - seconds);
        }
      } catch (error) {
        if (ticket !== loads) return;
        note.textContent = error.message.startsWith("Failed to fetch") || error instanceof TypeError
          ? "The history could not be loaded; check that the API is running, then pick a range again."
          : error.message;
        return;
      }
      if (!history || ticket !== loads) return;
      const body = { data: { history } };
      const data = columns(body.data.history, series.map((s) => s[0]));
      box.dataset.points = String(data[0].length);
      box.dataset.granularity = view.granularity;
      note.textContent = data[0].length
        ? data[0].length + (data[0].length === 1 ? " point, " : " points, ") + (view.granularity === "raw" ? "every collection" : "one per " + view.granularity)
          + (anomalies.length ? "; red dashed lines mark unusual days" : "") + "."
        : "No points in this range yet. Pick a longer range, or wait for the next collection.";
      const times = data[0];
      const only = times.length && times[0] === times[times.length - 1] ? times[0] : null;
      const options = {
        width,
        height: Math.max(220, Math.min(360, Math.round(width * 0.45))),
        // The API's times are UTC, and so are the axis and the legend.
        tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
        // One moment alone (a new target's first point) gets an interval either side: uPlot
        // would put it at the left edge of a thousand days.
        scales: { x: only === null ? { time: true } : { time: true, range: () => [only - interval, only + interval] },
                  y: {}, y2: {} },
        axes: [
          { stroke: "#334155" },
          { scale: "y", stroke: series[0][2], size: labelWidth },
          { scale: "y2", side: 1, stroke: "#475569", grid: { show: false }, size: labelWidth },
        ],
        series: [{ label: "Time (UTC)" }].concat(series.map(([, label, colour], index) => ({
          label, stroke: colour, width: 2, scale: index === 0 ? "y" : "y2",
          points: { show: data[0].length < 60 }, spanGaps: true,
        }))),
        plugins: [anomalyMarks(anomalies)],
      };
      if (chart) chart.destroy();
      chart = new uPlot(options, data, box);
      box.dataset.rangeLoaded = "true";
    }

    document.querySelectorAll(".ranges button").forEach((button) => {
      button.addEventListener("click", () => {
        range = button.dataset.range;
        document.querySelectorAll(".ranges button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
        load();
      });
    });
    let resizing;
    window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(load, 200); });
    // New points come in while the page is open; the statistics below poll on their own.
    setInterval(load, 30000);
    load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("chart");
    if (box) setUpChart(box);
  });

  // ---- Alerts, webhooks and usage ---------------------------------------------------

  // An optional field left empty is left out: the API takes absent, not "", for "none".
  document.addEventListener("htmx:configRequest", (event) => {
    const form = event.detail.elt;
    if (!form.hasAttribute || !form.hasAttribute("data-omit-empty") || !event.detail.formData) return;
    for (const [name, value] of Array.from(event.detail.formData.entries())) {
      if (value === "") event.detail.formData.delete(name);
    }
  });

  document.addEventListener("htmx:afterRequest", (event) => {
    const elt = event.detail.elt;
    if (!event.detail.successful || !event.detail.xhr || !elt.dataset) return;
    if (elt.dataset.secret) {
      // The webhook's signing secret comes back once, in the creation's answer.
      const created = JSON.parse(event.detail.xhr.responseText).data;
      const box = document.querySelector(elt.dataset.secret);
      box.querySelector("[data-secret-url]").textContent = created.url;
      box.querySelector("[data-secret-value]").textContent = created.secret;
      box.hidden = false;
    }
    if (elt.tagName === "FORM" && elt.hasAttribute("data-reset")) {
      elt.reset();
      elt.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  // Only change conditions compare over a window; a disabled field is not sent.
  function fitWindow(form) {
    const condition = form.elements.condition.value;
    form.elements.window.disabled = !condition.startsWith("change");
  }
  document.addEventListener("change", (event) => {
    const form = event.target.closest && event.target.closest("#add-alert");
    if (form) fitWindow(form);
  });

  const CALLS_COLOUR = "#2563eb";
  const COST_COLOUR = "#b45309";

  // Calls come whole: their axis steps by 1, 2, 5, 10, 20, 50… (never "1.5").
  const WHOLE_STEPS = [];
  for (let step = 1; step < 1e12; step *= 10) WHOLE_STEPS.push(step, 2 * step, 5 * step);

  // Cost ticks with as many decimals as the finest needs ($0.0025 is not "$0.003"), all alike.
  function dollars(ticks) {
    let digits = 2;
    while (digits < 6 && ticks.some((t) => Math.abs(t - Number(t.toFixed(digits))) > 1e-9)) digits++;
    return ticks.map((t) => "$" + t.toFixed(digits));
  }

  function drawUsage(box) {
    const days = JSON.parse(box.dataset.daily);
    const data = [days.map((d) => Date.parse(d.date + "T00:00:00Z") / 1000),
                  days.map((d) => d.calls), days.map((d) => d.cost_usd)];
    const width = box.clientWidth;
    box.textContent = "";
    box.dataset.days = String(days.length);
    return new uPlot({
      width,
      height: Math.max(200, Math.min(300, Math.round(width * 0.35))),
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      // Half a day either side, so the first and last bars are drawn whole.
      scales: { x: { time: true, range: (u, min, max) => [min - 43200, max + 43200] }, calls: { range: (u, min, max) => [0, Math.max(1, max)] },
                usd: { range: (u, min, max) => [0, Math.max(0.01, max)] } },
      axes: [
        { stroke: "#334155" },
        { scale: "calls", stroke: CALLS_COLOUR, size: labelWidth, incrs: WHOLE_STEPS },
        { scale: "usd", side: 1, stroke: COST_COLOUR, grid: { show: false }, size: labelWidth,
          values: (u, ticks) => dollars(ticks) },
      ],
      series: [
        { label: "Day (UTC)", value: (u, v) => v == null ? "--" : new Date(v * 1000).toISOString().slice(0, 10) },
        { label: "Calls", scale: "calls", stroke: CALLS_COLOUR, fill: CALLS_COLOUR + "cc",
          paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } },
        { label: "Cost", scale: "usd", stroke: COST_COLOUR, width: 2, points: { show: false },
          value: (u, v) => v == null ? "--" : "$" + v.toFixed(4) },
      ],
    }, data, box);
  }

  // The usage figures are polled: the chart is drawn again with each new copy.
  let usageResize;
  htmx.onLoad((content) => {
    const box = content.querySelector && (content.id === "usage-chart" ? content : content.querySelector("#usage-chart"));
    if (box) drawUsage(box);
    const form = content.querySelector && content.querySelector("#add-alert");
    if (form) fitWindow(form);
  });
  window.addEventListener("resize", () => {
    const box = document.getElementById("usage-chart");
    if (!box) return;
    clearTimeout(usageResize);
    usageResize = setTimeout(() => drawUsage(box), 200);
  });
})();
