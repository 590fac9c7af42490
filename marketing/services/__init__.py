"""Marketing use cases: referrals and channel partners."""
