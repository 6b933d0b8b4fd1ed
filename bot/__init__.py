"""The platform-independent core of SO8T."""
