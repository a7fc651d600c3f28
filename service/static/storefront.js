// Demo storefront: a shopper's personalized grid; a click sends events and the grid re-ranks.
"use strict";
const KEY = document.body.dataset.key;
const grid = document.getElementById("grid");
const shopper = document.getElementById("shopper");
const statusLine = document.getElementById("status");
let lastRendered = "";

async function api(path, options = {}) {
  const response = await fetch(path, {...options, headers: {"Authorization": `Bearer ${KEY}`,
    "Content-Type": "application/json", ...(options.headers || {})}});
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.error}: ${body.message}`);
  return body;
}

async function loadShoppers() {
  const {users} = await api("/v1/users?limit=30");
  shopper.innerHTML = users.map(u =>
    `<option value="${u.user_id}">${u.user_id} (${u.events} events${u.simulated ? ", simulated" : ""})</option>`).join("");
  await loadCards();
}

function reason(card) {
  const named = card.explanation.filter(r => r.title).map(r => r.title);
  if (named.length) return `because of ${named[0]}`;
  return card.explanation.some(r => r.cold_start) ? "popular right now" : "";
}

function render(cards) {
  grid.innerHTML = "";
  for (const card of cards) {
    const element = document.createElement("article");
    element.className = "card";
    element.dataset.itemId = card.product.id;
    const label = card.variant && card.variant.ai_generated ? (card.variant.label || "AI-generated") : "";
    element.innerHTML = `${label ? '<span class="badge"></span>' : ""}
      ${card.image_url ? `<img alt="" src="${card.image_url}">` : '<div class="text-only">no photo</div>'}
      <div class="title"></div><div class="why"></div>`;
    if (label) element.querySelector(".badge").textContent = label;
    element.querySelector(".title").textContent = card.product.title;
    element.querySelector(".why").textContent = reason(card);
    element.addEventListener("click", () => clicked(card.product.id));
    grid.appendChild(element);
  }
}

async function loadCards() {
  const body = await api(`/v1/users/${encodeURIComponent(shopper.value)}/cards?n=12`);
  const signature = JSON.stringify(body.cards.map(c => [c.product.id, c.image_url]));
  if (signature !== lastRendered) {  // re-render only on change: new ranking or a variant became ready
    render(body.cards);
    lastRendered = signature;
  }
  statusLine.textContent = body.segment === null ? "no taste segments yet: product photos"
    : `taste segment ${body.segment}: backdrops painted for it; the products are their own photos`;
  grid.dataset.user = shopper.value;
}

async function clicked(itemId) {
  const now = Date.now() / 1000;
  const base = {user_id: shopper.value, item_id: itemId, session_id: "storefront"};
  await api("/v1/events", {method: "POST", body: JSON.stringify({events: [
    {...base, event_id: `${shopper.value}-${itemId}-${now}-view`, type: "view", timestamp: now},
    {...base, event_id: `${shopper.value}-${itemId}-${now}-click`, type: "click", timestamp: now}]})});
  statusLine.textContent = `clicked ${itemId}`;
  await loadCards();
  grid.dataset.clicks = String(Number(grid.dataset.clicks || 0) + 1);
}

shopper.addEventListener("change", loadCards);
setInterval(() => loadCards().catch(() => {}), 4000);  // variants appear as they are generated
loadShoppers().catch(error => { statusLine.textContent = error.message; });
