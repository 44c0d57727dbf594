"""The safety layer: confirmation, secrets, policy, audit and untrusted-text fencing."""
