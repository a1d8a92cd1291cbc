import { ApiError } from "../api/client";

/** An error in the page, with the API's own message and the fields it names. */
export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const api = error instanceof ApiError ? error : null;
  const message = error instanceof Error ? error.message : String(error);
  const fields = Array.isArray(api?.details)
    ? (api.details as { field?: string; message?: string }[]).filter((d) => d.field)
    : [];
  return (
    <div className="error" role="alert">
      <strong>{title ?? (api ? `Error ${api.status || ""} ${api.type}`.replace("  ", " ") : "Error")}</strong>
      <p>{message}</p>
      {fields.length > 0 && (
        <ul>
          {fields.map((d, i) => (
            <li key={i}>
              <code>{d.field}</code>: {d.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
