// bench site: sortable tables and the image explorer's controls; no network, no libraries but Plotly.
"use strict";

function sortTable(table, column, th) {
  const descending = th.getAttribute("aria-sort") !== "descending";
  const better = th.dataset.better;
  table.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  const body = table.tBodies[0];
  const key = (row) => {
    const raw = row.cells[column].dataset.value ?? row.cells[column].textContent;
    const number = parseFloat(raw);
    return Number.isNaN(number) ? raw : number;
  };
  const rows = Array.from(body.rows);
  const empty = rows.filter((r) => (r.cells[column].dataset.value ?? "x") === "");
  const full = rows.filter((r) => !empty.includes(r));
  // the first click puts the best first: high values for "higher is better", low ones otherwise
  const sign = (better === "low" ? -1 : 1) * (descending ? -1 : 1);
  full.sort((a, b) => {
    const x = key(a), y = key(b);
    if (typeof x === "number" && typeof y === "number") return sign * (x - y);
    return sign * String(x).localeCompare(String(y));
  });
  [...full, ...empty].forEach((r) => body.appendChild(r));
}

document.querySelectorAll("table.sortable").forEach((table) => {
  Array.from(table.tHead.rows[0].cells).forEach((th, column) => {
    th.addEventListener("click", () => sortTable(table, column, th));
  });
});

// groups of metric columns (the leaderboard's, an image's scores): a button shows its group's columns
// in the tables of its section and hides the others'
function showGroup(button) {
  const section = button.closest("section");
  section.querySelectorAll(".groups button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
  section.querySelectorAll("table [data-group]").forEach((cell) => {
    cell.hidden = cell.dataset.group !== button.dataset.group;
  });
}

document.querySelectorAll(".groups button").forEach((button) => button.addEventListener("click", () => showGroup(button)));

function setRendering(name) {
  document.querySelectorAll("img.map").forEach((img) => {
    if (img.dataset[name]) img.src = img.dataset[name];
  });
  document.querySelectorAll("#focus-map img").forEach((img) => {
    if (img.dataset[name]) img.src = img.dataset[name];
  });
}

function focusMethod(key) {
  const select = document.getElementById("method-select");
  if (select) select.value = key;
  let label = key;
  document.querySelectorAll(".map-card").forEach((card) => {
    const on = card.dataset.method === key;
    card.classList.toggle("focused", on);
    if (on) {
      label = card.querySelector("figcaption").textContent;
      const picture = document.querySelector(".gallery .picture img");
      const shown = [card.querySelector("img, .nomap").cloneNode(true)];
      if (picture) shown.unshift(picture.cloneNode(true));
      document.getElementById("focus-map").replaceChildren(...shown);
    }
  });
  document.getElementById("focus-title").textContent = label;
  document.querySelectorAll("table.scores tbody tr").forEach((row) => row.classList.toggle("focused", row.dataset.method === key));
  if (window.Plotly) {
    document.querySelectorAll(".plotly-graph-div").forEach((div) => {
      if (!div.data) return;
      const opacity = div.data.map((t) => (t.meta === key || t.meta === "random-order" ? 1 : 0.25));
      const width = div.data.map((t) => (t.meta === key ? 3.5 : 1.5));
      window.Plotly.restyle(div, { opacity: opacity, "line.width": width });
    });
  }
}

const imageSelect = document.getElementById("image-select");
if (imageSelect) {
  imageSelect.addEventListener("change", () => { window.location.href = imageSelect.value; });
  const methodSelect = document.getElementById("method-select");
  const renderingSelect = document.getElementById("rendering-select");
  methodSelect.addEventListener("change", () => focusMethod(methodSelect.value));
  renderingSelect.addEventListener("change", () => setRendering(renderingSelect.value));
  document.querySelectorAll(".map-card").forEach((card) => card.addEventListener("click", () => focusMethod(card.dataset.method)));
  window.addEventListener("load", () => focusMethod(methodSelect.value));
}
