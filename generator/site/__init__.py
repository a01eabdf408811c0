"""The site: pages rendered from templates, MkDocs publishing, media, the MkDocs hooks."""
