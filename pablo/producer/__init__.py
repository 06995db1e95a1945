"""The click producer (click_producer: PutRecords batching, resends, spill) and the
`pablo send-clicks` command (cli)."""
