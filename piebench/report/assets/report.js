// The report's gallery: reads the JSON blob written by piebench/report/gallery.py, then
// filters (edit type, status, runs shown), orders (precomputed worst-first lists, reversed for
// best first) and pages the rows. The state lives in the URL hash, so a view can be linked.
// No network, no libraries. The pure functions are exported for tests under node.
(function () {
  "use strict";

  var DEFAULT_STATE = { type: "all", status: "all", sort: "id", by: "", dir: "worst", runs: null, page: 1 };

  function defaults(data) {
    var state = Object.assign({}, DEFAULT_STATE);
    state.runs = data.runs.map(function (r) { return r.key; });
    state.by = state.runs.length ? state.runs[0] : "";
    return state;
  }

  // "#type=1&sort=psnr_unedit_part&by=direct&dir=best&runs=a,b&status=problems&page=2";
  // unknown or invalid values fall back to the defaults.
  function parseState(hash, data) {
    var state = defaults(data);
    var columns = data.columns.map(function (c) { return c.name; });
    (hash || "").replace(/^#/, "").split("&").forEach(function (pair) {
      var at = pair.indexOf("=");
      if (at < 0) return;
      var key = decodeURIComponent(pair.slice(0, at));
      var value = decodeURIComponent(pair.slice(at + 1));
      if (key === "type" && (value === "all" || value in data.edit_types)) state.type = value;
      if (key === "status" && ["all", "problems", "complete"].indexOf(value) >= 0) state.status = value;
      if (key === "sort" && (value === "id" || columns.indexOf(value) >= 0)) state.sort = value;
      if (key === "by" && value in data.orders) state.by = value;
      if (key === "dir" && (value === "worst" || value === "best")) state.dir = value;
      if (key === "runs") {
        state.runs = value.split(",").filter(function (k) { return k in data.orders; });
      }
      if (key === "page" && /^[0-9]+$/.test(value)) state.page = Math.max(1, parseInt(value, 10));
    });
    return state;
  }

  function formatState(state) {
    return "#" + ["type", "status", "sort", "by", "dir", "runs", "page"].map(function (key) {
      var value = key === "runs" ? state.runs.join(",") : String(state[key]);
      return key + "=" + encodeURIComponent(value);
    }).join("&");
  }

  // A row passes when its edit type matches and, for the status filter, when some shown run
  // did not end "ok" (problems) or every shown run did (complete).
  function matches(row, state) {
    if (state.type !== "all" && String(row.edit_type) !== state.type) return false;
    if (state.status === "all") return true;
    var problem = state.runs.some(function (key) { return row.cells[key].status !== "ok"; });
    return state.status === "problems" ? problem : !problem;
  }

  // Row indices of the view, in display order (all pages).
  function selectRows(data, state) {
    var order;
    if (state.sort === "id" || !data.orders[state.by]) {
      order = data.rows.map(function (_, i) { return i; });
    } else {
      order = data.orders[state.by][state.sort].slice();
      if (state.dir === "best") order.reverse();
    }
    return order.filter(function (i) { return matches(data.rows[i], state); });
  }

  function pageOf(indices, page, size) {
    var pages = Math.max(1, Math.ceil(indices.length / size));
    var current = Math.min(Math.max(1, page), pages);
    return { rows: indices.slice((current - 1) * size, current * size), page: current, pages: pages };
  }

  // ---- drawing -------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function prompt(title, segments) {
    var p = el("p", { class: "prompt" }, [el("span", { class: "label", text: title + ": " })]);
    segments.forEach(function (s) { p.appendChild(el(s[1] ? "mark" : "span", { text: s[0] })); });
    return p;
  }

  function picture(link, caption, extra) {
    var fig = el("figure", { class: "pic" });
    if (link) {
      fig.appendChild(el("a", { href: link.full }, [el("img", { src: link.thumb, alt: caption, loading: "lazy" })]));
    } else {
      fig.appendChild(el("div", { class: "placeholder", text: "no image" }));
    }
    fig.appendChild(el("figcaption", { text: caption }));
    (extra || []).forEach(function (c) { fig.appendChild(c); });
    return fig;
  }

  function formatValue(value, column) {
    return value === null ? "nan" : (value * column.scale).toFixed(2);
  }

  function scoreTable(data, cell, state, runKey) {
    var table = el("table", { class: "cell-scores" });
    data.columns.forEach(function (column) {
      var value = cell.scores[column.name];
      var sorted = state.sort === column.name && state.by === runKey;
      if (value === undefined || !(column.in_cell || sorted)) return;
      table.appendChild(el("tr", { class: sorted ? "sorted" : "", title: column.label }, [
        el("th", { text: column.short }),
        el("td", { text: formatValue(value, column), "data-column": column.name }),
      ]));
    });
    return table;
  }

  function runCell(data, row, runKey, state) {
    var cell = row.cells[runKey];
    var caption = runKey + (cell.status === "ok" ? "" : " · " + cell.status);
    if (cell.status === "ok" || cell.image) {
      var extra = [scoreTable(data, cell, state, runKey)];
      if (cell.error) extra.push(el("p", { class: "error", text: cell.error }));
      var fig = picture(cell.image, caption, extra);
      fig.classList.add("run", "status-" + cell.status);
      fig.setAttribute("data-run", runKey);
      return fig;
    }
    var box = el("figure", { class: "pic run status-" + cell.status, "data-run": runKey }, [
      el("div", { class: "placeholder", text: cell.status }),
      el("figcaption", { text: caption }),
    ]);
    if (cell.error) box.appendChild(el("p", { class: "error", text: cell.error }));
    return box;
  }

  function drawRow(data, row, state) {
    var meta = el("div", { class: "meta" }, [
      el("p", { class: "id", text: row.id }),
      el("p", { class: "type", text: row.edit_type === null ? "edit type unknown" : row.edit_type + " " + row.edit_type_name }),
      prompt("source", row.source_prompt),
      prompt("target", row.target_prompt),
      row.instruction ? el("p", { class: "instruction", text: row.instruction }) : null,
      row.note ? el("p", { class: "error", text: row.note }) : null,
    ]);
    var article = el("article", { class: "row", "data-id": row.id }, [
      meta,
      picture(row.source, "source"),
      picture(row.mask, "mask"),
    ]);
    state.runs.forEach(function (key) { article.appendChild(runCell(data, row, key, state)); });
    return article;
  }

  function select(name, options, value) {
    var node = el("select", { name: name, id: "filter-" + name });
    options.forEach(function (o) {
      var option = el("option", { value: o[0], text: o[1] });
      if (o[0] === value) option.selected = true;
      node.appendChild(option);
    });
    return el("label", {}, [document.createTextNode(name + " "), node]);
  }

  function drawControls(data, state, onChange) {
    var types = [["all", "all"]].concat(Object.keys(data.edit_types).map(function (k) {
      return [k, k + " " + data.edit_types[k]];
    }));
    var sorts = [["id", "id"]].concat(data.columns.map(function (c) { return [c.name, c.label]; }));
    var runs = data.runs.map(function (r) { return [r.key, r.key]; });
    var box = el("form", { class: "controls" });
    box.appendChild(select("type", types, state.type));
    box.appendChild(select("status", [["all", "all"], ["problems", "failed / missing / not scored"], ["complete", "complete"]], state.status));
    box.appendChild(select("sort", sorts, state.sort));
    box.appendChild(select("by", runs, state.by));
    box.appendChild(select("dir", [["worst", "worst first"], ["best", "best first"]], state.dir));
    var shown = el("span", { class: "runs" }, [document.createTextNode("runs shown ")]);
    data.runs.forEach(function (r) {
      var check = el("input", { type: "checkbox", value: r.key, name: "run" });
      check.checked = state.runs.indexOf(r.key) >= 0;
      shown.appendChild(el("label", {}, [check, document.createTextNode(r.key)]));
    });
    box.appendChild(shown);
    var holder = document.getElementById("controls");
    holder.textContent = "";
    holder.appendChild(box);
    box.addEventListener("submit", function (event) { event.preventDefault(); });
    box.addEventListener("change", function () {
      var next = Object.assign({}, state, { page: 1 });
      ["type", "status", "sort", "by", "dir"].forEach(function (k) {
        next[k] = document.getElementById("filter-" + k).value;
      });
      next.runs = Array.prototype.filter.call(box.querySelectorAll("input[name=run]"), function (i) {
        return i.checked;
      }).map(function (i) { return i.value; });
      onChange(next);
    });
  }

  function drawPager(id, view, total, onPage) {
    var box = document.getElementById(id);
    box.textContent = "";
    var prev = el("button", { type: "button", text: "‹ previous" });
    var next = el("button", { type: "button", text: "next ›" });
    prev.disabled = view.page <= 1;
    next.disabled = view.page >= view.pages;
    prev.addEventListener("click", function () { onPage(view.page - 1); });
    next.addEventListener("click", function () { onPage(view.page + 1); });
    box.appendChild(prev);
    box.appendChild(el("span", { class: "count", text: " page " + view.page + " of " + view.pages + " · " + total + " rows " }));
    box.appendChild(next);
  }

  function start() {
    var data = JSON.parse(document.getElementById("report-data").textContent);
    var state = parseState(window.location.hash, data);

    function render(next) {
      state = next;
      history.replaceState(null, "", formatState(state));
      var indices = selectRows(data, state);
      var view = pageOf(indices, state.page, data.page_size);
      state.page = view.page;
      drawControls(data, state, render);
      var onPage = function (p) { render(Object.assign({}, state, { page: p })); };
      drawPager("pager-top", view, indices.length, onPage);
      drawPager("pager-bottom", view, indices.length, onPage);
      var rows = document.getElementById("rows");
      rows.textContent = "";
      view.rows.forEach(function (i) { rows.appendChild(drawRow(data, data.rows[i], state)); });
    }
    render(state);
  }

  var api = { parseState: parseState, formatState: formatState, matches: matches, selectRows: selectRows, pageOf: pageOf };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
  } else {
    window.addEventListener("error", function (event) {
      var box = document.getElementById("script-error");
      box.hidden = false;
      box.textContent = "report script error: " + event.message;
    });
    document.addEventListener("DOMContentLoaded", start);
  }
})();
