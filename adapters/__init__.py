"""Platform adapters: each translates platform payloads to bot.events values and does the I/O."""
