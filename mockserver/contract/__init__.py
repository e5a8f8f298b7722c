"""Checks of our hand-written specs against the outside world (`mockserver drift`)."""
