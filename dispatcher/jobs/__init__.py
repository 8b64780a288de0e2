"""The work behind each command, below the command line: a frozen job value built and
validated from the command's flags (`from_flags`), and a coroutine that does the work and
returns a typed result. The CLI renders the result; a Python caller can use it as it is.

Every bad value is a `ConfigError` with one line naming the flag, the value and what is allowed.
"""
