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
    element.innerHTML = `${card.image_url ? `<img alt="" src="${card.image_url}">` : '<div class="text-only">no photo</div>'}
      <div class="title"></div><div class="why"></div>`;
    showLabel(element, label);
    element.querySelector(".title").textContent = card.product.title;
    element.querySelector(".why").textContent = reason(card);
    if (card.colours) element.appendChild(swatches(card, element, label));
    element.addEventListener("click", () => clicked(card.product.id));
    grid.appendChild(element);
  }
}

// The label over the card's image: what made it ("AI-generated background", "Colour preview: Navy Blue"), if anything.
function showLabel(element, text) {
  let badge = element.querySelector(".badge");
  if (!text) {
    if (badge) badge.remove();
    return;
  }
  if (!badge) {
    badge = document.createElement("span");
    badge.className = "badge";
    element.prepend(badge);
  }
  badge.textContent = text;
}

// The colours the product comes in: a swatch shows the photo in that colour, labelled; again, the card's own image.
function swatches(card, element, label) {
  const row = document.createElement("div");
  row.className = "swatches";
  for (const colour of card.colours) {
    const swatch = document.createElement("button");
    swatch.type = "button";
    swatch.className = "swatch";
    swatch.dataset.colour = colour.name;
    swatch.setAttribute("aria-label", colour.name);
    swatch.style.background = colour.hex || "repeating-linear-gradient(45deg, #e33, #fc3 4px, #39f 8px)";
    swatch.title = colour.reason ? `${colour.name}: ${colour.reason}` : colour.label;
    swatch.disabled = !colour.preview_url;
    swatch.addEventListener("click", event => {
      event.stopPropagation();  // looking at a colour is not a click on the product
      preview(card, element, colour, swatch, label).catch(error => { statusLine.textContent = error.message; });
    });
    row.appendChild(swatch);
  }
  return row;
}

async function preview(card, element, colour, swatch, label) {
  const image = element.querySelector("img");
  const showing = swatch.getAttribute("aria-pressed") === "true";
  element.querySelectorAll(".swatch").forEach(s => s.setAttribute("aria-pressed", "false"));
  if (showing) {  // back to the card's own image
    image.src = card.image_url;
    showLabel(element, label);
    return;
  }
  const response = await fetch(colour.preview_url);
  if (!response.ok) throw new Error((await response.json()).message);
  image.src = URL.createObjectURL(await response.blob());
  swatch.setAttribute("aria-pressed", "true");
  showLabel(element, colour.label);
}

async function loadCards() {
  const body = await api(`/v1/users/${encodeURIComponent(shopper.value)}/cards?n=12`);
  const signature = JSON.stringify(body.cards.map(c => [c.product.id, c.image_url, c.colours || []]));
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
