"""Co-Sell referrals as Partner Center's Referrals API carries them."""
