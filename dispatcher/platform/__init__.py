"""Platform mode: a mock of the platform's API (token, CreateProcess, GetProcess) that finishes
processes, notifies them through the engine, and can stop notifying (outages)."""
