// Dark by default; light and high-contrast kept in this browser (localStorage).
import { useCallback, useEffect, useState } from "react";

export const THEMES = ["dark", "light", "high-contrast"] as const;
export type Theme = (typeof THEMES)[number];
const STORAGE = "acc.theme";

export function storedTheme(): Theme {
  const value = localStorage.getItem(STORAGE);
  return (THEMES as readonly string[]).includes(value ?? "") ? (value as Theme) : "dark";
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme === "light" ? "light" : "dark";
}

export function useTheme(): [Theme, (theme: Theme) => void, () => void] {
  const [theme, setTheme] = useState<Theme>(storedTheme);
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem(STORAGE, theme);
  }, [theme]);
  const cycle = useCallback(
    () => setTheme((current) => THEMES[(THEMES.indexOf(current) + 1) % THEMES.length] ?? "dark"),
    [],
  );
  return [theme, setTheme, cycle];
}
