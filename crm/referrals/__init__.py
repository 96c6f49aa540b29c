"""The Partner Center Referrals API connection of a publisher: sync in, write back."""
