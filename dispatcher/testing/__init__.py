"""Test doubles for the engine: a transport that answers from a script (`memory`) and an event
loop on virtual time (`virtualtime`). Together they run the engine's rules in milliseconds and
the same way every time, with no socket and no real waiting."""
