"""Every wire and storage format of the project, in one place: what crosses the streams and queues, what
is kept in the buckets, the channel policy and the metric names. Formats the project writes carry a
`schema_version`; their readers accept any version and ignore fields they do not know, so a new field
never breaks a running reader. The chat message stays as the chat servers send it (they own it).

- `chat`: `ChatMessage` — the chat servers' format (validated strictly: a poison record is dead-lettered)
- `lambda_event`: the Lambda Kinesis event (records parsed one by one) and its partial batch response
- `on_failure`: what the event source mapping sends its on-failure destination for a batch it gave up
  on (AWS's shape and `version`, not ours)
- `verdict`: `Verdict` on the `verdicts` stream; `dead_letter`: `DeadLetter` on the dead-letter queue
- `policy`: `policy.json` — thresholds and term lists per channel
- `storage`: archive lines, moderator decisions, the simulator's ground truth, the drift reference,
  `champion.json`; the bucket keys that name them; their JSON Lines encoding
- `metrics`: the consumer's EMF metric names (the dashboard and alarms use the same)
"""
