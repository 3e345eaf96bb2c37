"""Call recordings: retention rules, and (as the lifecycle grows) storage, audio and holds."""
