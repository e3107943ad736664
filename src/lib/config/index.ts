/** Connection profiles: resolution from files and environment, service clients, and the doctor checks. */
export * from './env';
export * from './profile-file';
export * from './profile';
export * from './connect';
export * from './doctor';
