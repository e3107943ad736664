/** CPD storage volumes: list, upload, download and delete through the profile's `cpd` client. */
export * from './client';
