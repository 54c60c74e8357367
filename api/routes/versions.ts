/**
 * Nova's version discovery: the list at the root, and one document per
 * API at /v2 and /v2.1.
 */
import express from 'express';
import { baseUrl } from '../context';
import { MAX_VERSION, MIN_VERSION } from '../microversion';

// Nova lists the legacy v2.0 API first (Tempest's test_versions checks the order); berth
// serves it at /v2 as the same API without microversions, as Nova does.
const VERSIONS = [
  {
    id: 'v2.0',
    path: 'v2',
    status: 'SUPPORTED',
    version: '',
    min_version: '',
    updated: '2011-01-21T11:33:21Z',
    media: '2',
  },
  {
    id: 'v2.1',
    path: 'v2.1',
    status: 'CURRENT',
    version: MAX_VERSION,
    min_version: MIN_VERSION,
    updated: '2013-07-23T11:33:21Z',
    media: '2.1',
  },
] as const;

function versionDoc(base: string, v: (typeof VERSIONS)[number]) {
  return {
    id: v.id,
    status: v.status,
    version: v.version,
    min_version: v.min_version,
    updated: v.updated,
    links: [{ rel: 'self', href: `${base}/${v.path}/` }],
    'media-types': [
      {
        base: 'application/json',
        type: `application/vnd.openstack.compute+json;version=${v.media}`,
      },
    ],
  };
}

export function versionsRouter() {
  const router = express.Router();
  // Nova answers its root with 200 (its index action); 300 is for other unversioned paths.
  router.get('/', (req, res) => {
    res.json({
      versions: VERSIONS.map((v) => {
        const { 'media-types': _media, ...listed } = versionDoc(baseUrl(req), v);
        void _media;
        return listed;
      }),
    });
  });
  for (const v of VERSIONS)
    router.get([`/${v.path}`, `/${v.path}/`], (req, res) => {
      res.json({ version: versionDoc(baseUrl(req), v) });
    });
  return router;
}
