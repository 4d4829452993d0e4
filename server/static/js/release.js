// The release line of the footer, and a notice when a new release is published while the page is open:
// `meta { release }` is asked every POLL_S seconds while the tab is visible (never while it is hidden),
// and a banner offers to reload the current view from the new release.

import { clearCache, gql } from "./api.js";
import { h } from "./dom.js";

export const POLL_S = 30;
const MIN_POLL_S = 0.1;
const RELEASE = "query Release { meta { release counts { networks edges genes } } }";
const POLL = "query ReleasePoll { meta { release } }";

let current = null; // the release the views were read from
let dismissed = null; // a release whose notice the user closed: not shown again

/** Seconds between two checks: POLL_S, or the page URL's `?releasePoll=<seconds>` (tests shorten it). */
export function pollSeconds() {
  const asked = Number.parseFloat(new URLSearchParams(location.search).get("releasePoll") ?? "");
  return Number.isFinite(asked) && asked > 0 ? Math.max(asked, MIN_POLL_S) : POLL_S;
}

/** Fill the footer with the release being served and its counts; it becomes the page's current release. */
export async function showRelease() {
  const line = document.getElementById("release");
  try {
    const { meta } = await gql(RELEASE);
    const c = meta.counts;
    current = meta.release;
    line.textContent = `release ${meta.release}: ${c.networks.toLocaleString("en")} networks, ` +
      `${c.edges.toLocaleString("en")} edges, ${c.genes.toLocaleString("en")} genes`;
  } catch (error) {
    line.textContent = `no release available (${error.message})`;
  }
}

/** Check for a new release every pollSeconds() while the tab is visible; `reload()` redraws the view. */
export function watchReleases(reload) {
  const every = pollSeconds() * 1000;
  let timer = null;
  let checking = false;
  const hidden = () => document.visibilityState === "hidden";
  const schedule = () => {
    clearTimeout(timer);
    timer = hidden() ? null : setTimeout(check, every);
  };
  async function check() {
    timer = null;
    if (hidden() || checking) return;
    checking = true;
    try {
      const { meta } = await gql(POLL, {}, { cached: false });
      if (meta.release !== current && meta.release !== dismissed) notify(meta.release, reload);
    } catch (error) {
      console.warn("release check failed", error);
    } finally {
      checking = false;
    }
    schedule();
  }
  document.addEventListener("visibilitychange", () => {
    if (hidden()) {
      clearTimeout(timer);
      timer = null;
    } else if (timer == null && !checking) {
      check(); // back in view: the release may have changed while hidden
    }
  });
  schedule();
}

/** The banner (one at a time) naming the new release, with a button that redraws the view from it. */
function notify(release, reload) {
  const banner = h("div", { id: "release-notice", class: "notice", role: "status", dataset: { release } },
    `A new release (${release}) is available — `,
    h("button", { type: "button", onclick: async () => {
      banner.remove();
      clearCache(); // every kept answer is of the old release
      current = release;
      await reload();
      await showRelease();
    } }, "Reload"),
    h("button", { type: "button", class: "secondary", "aria-label": "Dismiss", title: "Dismiss",
      onclick: () => { dismissed = release; banner.remove(); } }, "×"));
  const shown = document.getElementById("release-notice");
  if (shown) shown.replaceWith(banner);
  else document.querySelector("header.top").after(banner);
}
