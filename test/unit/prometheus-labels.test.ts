import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkLabelPrefix, dockerLabelsToPromLabels, isValidLabelName, sanitizeLabelName,
} from '../../src/infrastructure/prometheus/labels.js';

test('sanitizeLabelName maps Docker label keys onto [a-zA-Z_][a-zA-Z0-9_]*', () => {
  const cases: Array<[string, string]> = [
    ['com.docker.compose.project', 'com_docker_compose_project'],
    ['app', 'app'],
    ['my-label/with:odd chars', 'my_label_with_odd_chars'],
    ['9lives', '_9lives'],
    ['', '_'],
    ['ünïcode', '_n_code'],
    ['already_ok_123', 'already_ok_123'],
  ];
  for (const [input, want] of cases) {
    const got = sanitizeLabelName(input);
    assert.equal(got, want, input);
    assert.match(got, /^[a-zA-Z_][a-zA-Z0-9_]*$/, input);
  }
});

test('isValidLabelName refuses reserved and malformed names', () => {
  const cases: Array<[string, boolean]> = [
    ['id', true], ['container_label_x', true], ['_x', true],
    ['__name__', false], ['1a', false], ['a-b', false], ['', false],
  ];
  for (const [name, want] of cases) assert.equal(isValidLabelName(name), want, name);
});

test('dockerLabelsToPromLabels prefixes, resolves collisions stably and keeps core labels', () => {
  const reserved = new Set(['id', 'name', 'image', 'host']);
  assert.deepEqual(
    dockerLabelsToPromLabels({ 'com.example.team': 'core', 'a_b': 'second', 'a.b': 'first' }, 'container_label_', reserved),
    { container_label_a_b: 'first', container_label_com_example_team: 'core' },
  );
  // With an empty prefix a Docker label must not override the id/name/image/host labels.
  assert.deepEqual(
    dockerLabelsToPromLabels({ name: 'evil', '__meta': 'x', tier: 'web' }, '', reserved),
    { tier: 'web' },
  );
});

test('checkLabelPrefix refuses a prefix that cannot start a label name', () => {
  assert.equal(checkLabelPrefix('docker_label_'), 'docker_label_');
  assert.equal(checkLabelPrefix(''), '');
  for (const bad of ['1x_', 'a-b_', '__x']) {
    assert.throws(() => checkLabelPrefix(bad), (e: unknown) => (e as { code?: string }).code === 'INVALID_ARGUMENT', bad);
  }
});
