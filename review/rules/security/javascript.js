const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const cp = require("child_process");
const serialize = require("node-serialize");

function render(el, comment, code) {
  // ruleid: javascript.security.eval
  eval(code);
  // ok: javascript.security.eval
  JSON.parse(code);
  // ruleid: javascript.security.inner-html
  el.innerHTML = comment;
  // ok: javascript.security.inner-html
  el.innerHTML = "<b>static</b>";
  // ok: javascript.security.inner-html
  el.textContent = comment;
  // ruleid: javascript.security.document-write
  document.write(comment);
}

function run(name, db, id) {
  // ruleid: javascript.security.child-process-exec
  cp.exec("ls " + name);
  // ok: javascript.security.child-process-exec
  cp.execFile("ls", [name]);
  // ok: javascript.security.child-process-exec
  /a+/.exec(name);
  // ruleid: javascript.security.sql-concat
  db.query("SELECT * FROM users WHERE id = " + id);
  // ruleid: javascript.security.sql-concat
  db.query(`SELECT * FROM users WHERE id = ${id}`);
  // ok: javascript.security.sql-concat
  db.query("SELECT * FROM users WHERE id = $1", [id]);
}

app.get("/file", (req, res) => {
  const name = req.query.name;
  // ruleid: javascript.security.path-traversal-request
  fs.readFileSync(name);
  // ok: javascript.security.path-traversal-request
  fs.readFileSync(path.basename(req.query.name));
});

app.get("/proxy", async (req, res) => {
  // ruleid: javascript.security.ssrf-request-url
  await fetch(req.query.url);
  // ok: javascript.security.ssrf-request-url
  await fetch("https://example.com/health");
});

function digest(data, blob) {
  // ruleid: javascript.security.weak-hash
  crypto.createHash("md5").update(data);
  // ok: javascript.security.weak-hash
  crypto.createHash("sha256").update(data);
  // ruleid: javascript.security.unserialize
  serialize.unserialize(blob);
}
