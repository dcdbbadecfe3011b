-- Bilingual subtitles (translation and source in each cue) join the media file types.
ALTER TABLE media_files DROP CONSTRAINT media_files_file_type_check;
ALTER TABLE media_files ADD CONSTRAINT media_files_file_type_check
    CHECK (file_type IN ('original', 'thumbnail', 'dubbed_video', 'subtitle_video', 'dubbed_audio',
                         'dub_subtitles', 'translation_subtitles', 'source_subtitles',
                         'bilingual_subtitles', 'source_transcript'));
