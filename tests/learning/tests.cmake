# Placeholder until the learning tests land.
