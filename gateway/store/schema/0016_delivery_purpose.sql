-- name: outbox: the purpose of use a delivery is sent for
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
-- A record request's deliveries carry the purpose of use the request was
-- accepted with (X-CDX-Purpose), and the access check made just before
-- each attempt decides with it, as the request was decided.  NULL (rows
-- stored before this step, referrals, subscriptions) is decided as before:
-- a referral by the patient's withdrawal, a subscription as TREAT.
ALTER TABLE deliveries ADD COLUMN purpose TEXT;
