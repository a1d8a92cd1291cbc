import { useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useState } from "react";
import { NavLink, Route, Routes, useNavigate } from "react-router-dom";

import { onUnauthorized } from "./api/client";
import { PoolLive, useLiveMode } from "./api/live";
import { KeyGate } from "./components/KeyGate";
import { Modal } from "./components/Modal";
import { getKey, onKeyChange, setKey } from "./lib/auth";
import { CHEAT_SHEET, useShortcuts } from "./lib/shortcuts";
import { THEMES, useTheme, type Theme } from "./lib/theme";
// The landing screen comes with the app; the others load when first opened.
import Overview from "./pages/Overview";

const Runs = lazy(() => import("./pages/Runs"));
const RunDetail = lazy(() => import("./pages/RunDetail"));
const Replay = lazy(() => import("./pages/Replay"));
const Agents = lazy(() => import("./pages/Agents"));
const Analytics = lazy(() => import("./pages/Analytics"));
const Reviews = lazy(() => import("./pages/Reviews"));
const Alerts = lazy(() => import("./pages/Alerts"));
const Configuration = lazy(() => import("./pages/Configuration"));

const THEME_LABEL: Record<Theme, string> = {
  dark: "Dark",
  light: "Light",
  "high-contrast": "High contrast",
};

export function App() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [theme, setTheme, cycleTheme] = useTheme();
  const [help, setHelp] = useState(false);
  const [refused, setRefused] = useState<string | null>(null);
  const [hasKey, setHasKey] = useState(() => getKey() !== null);

  useEffect(
    () =>
      onUnauthorized(() =>
        setRefused(
          getKey()
            ? "The API refused this key (revoked, expired, or of another API)."
            : "The API needs a key.",
        ),
      ),
    [],
  );
  useEffect(
    () =>
      onKeyChange(() => {
        setHasKey(getKey() !== null);
        setRefused(null);
        queryClient.clear();
      }),
    [queryClient],
  );

  useShortcuts({
    "?": () => setHelp((open) => !open),
    "g o": () => navigate("/"),
    "g r": () => navigate("/runs"),
    "g a": () => navigate("/agents"),
    "g p": () => navigate("/analytics"),
    "g c": () => navigate("/reviews"),
    "g l": () => navigate("/alerts"),
    "g s": () => navigate("/configuration"),
    t: cycleTheme,
  });

  return (
    <PoolLive>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <NavLink to="/" className="brand" end>
          acc
        </NavLink>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Overview
          </NavLink>
          <NavLink to="/runs">Runs</NavLink>
          <NavLink to="/agents">Agents</NavLink>
          <NavLink to="/analytics">Analytics</NavLink>
          <NavLink to="/reviews">Code review</NavLink>
          <NavLink to="/alerts">Alerts</NavLink>
          <NavLink to="/configuration">Configuration</NavLink>
        </nav>
        <div className="tools">
          <LiveBadge />
          <label htmlFor="theme" className="visually-hidden">
            Theme
          </label>
          <select id="theme" value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
            {THEMES.map((t) => (
              <option key={t} value={t}>
                {THEME_LABEL[t]}
              </option>
            ))}
          </select>
          <button type="button" onClick={() => setHelp(true)} aria-label="Keyboard shortcuts">
            ?
          </button>
          {hasKey && (
            <button type="button" onClick={() => setKey(null)}>
              Sign out
            </button>
          )}
        </div>
      </header>
      <p className="phone-only read-only-note" role="note">
        Read only on a phone: open the dashboard on a tablet or a computer to start, approve or
        cancel runs.
      </p>
      {refused !== null ? (
        <KeyGate reason={refused} />
      ) : (
        <Suspense
          fallback={
            <main className="page" id="main" aria-busy="true">
              <p className="muted">Loading…</p>
            </main>
          }
        >
          <Routes>
            <Route path="/" element={<Overview />} />
            <Route path="/runs" element={<Runs />} />
            <Route path="/runs/:id" element={<RunDetail />} />
            <Route path="/runs/:id/replay" element={<Replay />} />
            <Route path="/agents" element={<Agents />} />
            <Route path="/analytics" element={<Analytics />} />
            <Route path="/reviews" element={<Reviews />} />
            <Route path="/reviews/:id" element={<Reviews />} />
            <Route path="/alerts" element={<Alerts />} />
            <Route path="/configuration" element={<Configuration />} />
            <Route
              path="*"
              element={
                <main className="page" id="main">
                  <h1>Not found</h1>
                  <p>
                    No page here. <NavLink to="/">Back to the overview</NavLink>
                  </p>
                </main>
              }
            />
          </Routes>
        </Suspense>
      )}
      {help && (
        <Modal title="Keyboard shortcuts" onClose={() => setHelp(false)}>
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Keys</th>
                <th scope="col">Does</th>
              </tr>
            </thead>
            <tbody>
              {CHEAT_SHEET.map(([keys, does]) => (
                <tr key={keys}>
                  <td>
                    <kbd>{keys}</kbd>
                  </td>
                  <td>{does}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Modal>
      )}
    </PoolLive>
  );
}

/** Whether the page is pushed live by the pool or polls the API. */
function LiveBadge() {
  const mode = useLiveMode();
  return (
    <span className="muted small" data-live={mode.kind} title={mode.kind === "push" ? "Updates are pushed by the pool" : "The pool does not answer: reading the API every few seconds"}>
      {mode.kind === "push" ? "● live" : "○ polling"}
    </span>
  );
}
