"""The Authlib adapter: the only code that imports authlib.oauth2 or waits on the bridge."""
