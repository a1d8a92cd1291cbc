import { useState, type FormEvent } from "react";

import { setKey } from "../lib/auth";

/** Asks for an API key when the API refuses the request without one (401). */
export function KeyGate({ reason }: { reason?: string | undefined }) {
  const [value, setValue] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (value.trim()) setKey(value.trim());
  };
  return (
    <main className="page narrow" id="main">
      <h1>Sign in with an API key</h1>
      {reason && (
        <p className="error" role="alert">
          {reason}
        </p>
      )}
      <p>
        The API needs a key. On the machine that runs <code>acc up</code>, the local admin key is
        in <code>.acc/admin.key</code>; or make one for the dashboard:
      </p>
      <pre>acc keys create dashboard -s runs:read -s runs:write -s runs:approve</pre>
      <form onSubmit={submit} className="stack">
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="acc_..."
          value={value}
          onChange={(event) => setValue(event.target.value)}
        />
        <p className="hint">
          Kept in this browser only (localStorage); &quot;Sign out&quot; forgets it.
        </p>
        <button type="submit" className="primary">
          Use this key
        </button>
      </form>
    </main>
  );
}
