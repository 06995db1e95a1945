"""`pablo query`: Athena SQL on Athena, the emulator or a lake snapshot (cli), its SQL
translation (sql), DuckDB engine (engine), Athena client (athena) and output formats (output).

Imports nothing itself: `pablo --help` imports `output` without the heavy modules."""
