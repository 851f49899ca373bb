// Tabs: the live demo and the API explorer. The demo starts on first view;
// GraphiQL mounts on first view of the explorer.
'use strict';

(() => {
  let storyStarted = false;

  function show(tab) {
    const name = tab === 'explorer' ? 'explorer' : 'demo';
    for (const section of document.querySelectorAll('main.tab')) section.hidden = section.id !== name;
    for (const link of document.querySelectorAll('nav [data-tab]')) {
      link.setAttribute('aria-selected', String(link.dataset.tab === name));
    }
    if (name === 'explorer') window.ChatshopExplorer.mount();
    else if (!storyStarted) {
      storyStarted = true;
      window.ChatshopStory.start();
    }
  }

  window.ChatshopExplorer.wireAuth();
  window.addEventListener('hashchange', () => show(window.location.hash.slice(1)));
  show(window.location.hash.slice(1));
})();
