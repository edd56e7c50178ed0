# Placeholder until the condition tests land.
