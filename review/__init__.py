"""Code review: semgrep over the shipped rule packs (`review/rules/`), complexity per
function (lizard), suggestions with confidence and autofix patches, SARIF, the team's
standards and what feedback teaches. Imports only `core`; the CLI, the API, the worker's
`review` backend and the supervisor's gate all call `review.engine.review`."""
