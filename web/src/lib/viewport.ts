// Phones are read only: the width under which actions are hidden (styles.css says the same).
export const PHONE = "(max-width: 599.98px)";

/** Whether the page is shown on a phone-sized screen, where nothing may be changed. */
export function isPhone(): boolean {
  return typeof window.matchMedia === "function" && window.matchMedia(PHONE).matches;
}
