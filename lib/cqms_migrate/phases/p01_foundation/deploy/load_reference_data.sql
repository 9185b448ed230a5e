-- Reference rows from the legacy values. Roles and the role mapping come from params and are
-- written just before this (same transaction). Each blank or unknown value maps to an
-- explicit 'Unassigned' row, never to NULL. Ids derive from codes (md5 of kind and code), so a
-- rollback and a re-run give every reference row, and every key pointing at it, the same value.
INSERT INTO public.countries (code, name, iso_alpha3, region) VALUES
  ('ZZ', 'Unassigned', NULL, NULL),
  ('AE', 'United Arab Emirates', 'ARE', 'Asia'), ('AR', 'Argentina', 'ARG', 'Americas'),
  ('AU', 'Australia', 'AUS', 'Oceania'), ('BD', 'Bangladesh', 'BGD', 'Asia'),
  ('BR', 'Brazil', 'BRA', 'Americas'), ('CA', 'Canada', 'CAN', 'Americas'),
  ('CL', 'Chile', 'CHL', 'Americas'), ('CO', 'Colombia', 'COL', 'Americas'),
  ('DE', 'Germany', 'DEU', 'Europe'), ('EG', 'Egypt', 'EGY', 'Africa'),
  ('ES', 'Spain', 'ESP', 'Europe'), ('FR', 'France', 'FRA', 'Europe'),
  ('GB', 'United Kingdom', 'GBR', 'Europe'), ('GH', 'Ghana', 'GHA', 'Africa'),
  ('ID', 'Indonesia', 'IDN', 'Asia'), ('IE', 'Ireland', 'IRL', 'Europe'),
  ('IN', 'India', 'IND', 'Asia'), ('IT', 'Italy', 'ITA', 'Europe'),
  ('JP', 'Japan', 'JPN', 'Asia'), ('KE', 'Kenya', 'KEN', 'Africa'),
  ('MA', 'Morocco', 'MAR', 'Africa'), ('MX', 'Mexico', 'MEX', 'Americas'),
  ('MY', 'Malaysia', 'MYS', 'Asia'), ('NG', 'Nigeria', 'NGA', 'Africa'),
  ('NL', 'Netherlands', 'NLD', 'Europe'), ('NZ', 'New Zealand', 'NZL', 'Oceania'),
  ('PE', 'Peru', 'PER', 'Americas'), ('PH', 'Philippines', 'PHL', 'Asia'),
  ('PK', 'Pakistan', 'PAK', 'Asia'), ('PL', 'Poland', 'POL', 'Europe'),
  ('PT', 'Portugal', 'PRT', 'Europe'), ('RO', 'Romania', 'ROU', 'Europe'),
  ('SG', 'Singapore', 'SGP', 'Asia'), ('TR', 'Turkey', 'TUR', 'Asia'),
  ('UA', 'Ukraine', 'UKR', 'Europe'), ('US', 'United States', 'USA', 'Americas'),
  ('VN', 'Viet Nam', 'VNM', 'Asia'), ('ZA', 'South Africa', 'ZAF', 'Africa');

INSERT INTO public.departments (id, name, code)
SELECT md5('cqms-department:' || d.code)::uuid, d.name, d.code FROM (
  SELECT 'Unassigned' AS name, 'UNASSIGNED' AS code
  UNION ALL
  SELECT mode() WITHIN GROUP (ORDER BY btrim({people.p.department})), cqms_migration.ref_code({people.p.department})
  FROM public.people p
  WHERE cqms_migration.ref_code({people.p.department}) <> 'UNASSIGNED'
  GROUP BY cqms_migration.ref_code({people.p.department})) d;

WITH legacy_channels AS (
  SELECT btrim({people.p.channel}) AS spelling FROM public.people p
  UNION ALL
  SELECT btrim(ch) FROM public.scorecards s,
    LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(s.channels) = 'array' THEN s.channels ELSE '[]' END) ch
)
INSERT INTO public.channels (id, name, code, display_order)
SELECT md5('cqms-channel:' || c.code)::uuid, c.name, c.code, c.display_order FROM (
  SELECT 'Unassigned' AS name, 'UNASSIGNED' AS code, 1000 AS display_order
  UNION ALL
  SELECT mode() WITHIN GROUP (ORDER BY spelling), cqms_migration.ref_code(spelling),
         row_number() OVER (ORDER BY cqms_migration.ref_code(spelling))::int
  FROM legacy_channels
  WHERE cqms_migration.ref_code(spelling) <> 'UNASSIGNED'
  GROUP BY cqms_migration.ref_code(spelling)) c;

-- a team is (team name, channel); teams of blank name go to the 'Unassigned' team
INSERT INTO public.teams (id, name, code, channel_id)
SELECT md5('cqms-team:' || t.code)::uuid, min(t.name), t.code, t.channel_id
FROM (
  SELECT CASE WHEN cqms_migration.ref_code({people.p.team}) = 'UNASSIGNED' THEN 'Unassigned' ELSE btrim({people.p.team}) END AS name,
         cqms_migration.ref_code({people.p.team}) || '@' || c.code AS code,
         c.id AS channel_id
  FROM public.people p
  JOIN public.channels c ON c.code = cqms_migration.ref_code({people.p.channel})
  UNION ALL
  SELECT 'Unassigned', 'UNASSIGNED@UNASSIGNED', c.id FROM public.channels c WHERE c.code = 'UNASSIGNED'
) t
GROUP BY t.code, t.channel_id;
