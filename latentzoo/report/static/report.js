// latentzoo report: a click on a figure opens it enlarged; Escape or a click closes it.
(function(){
  var box=document.getElementById('lightbox');
  function close(){box.hidden=true;box.textContent='';}
  document.querySelectorAll('.frame img').forEach(function(img){
    img.addEventListener('click',function(){
      var fig=document.createElement('figure'),big=document.createElement('img'),cap=document.createElement('figcaption');
      big.src=img.src;big.alt=img.alt;cap.textContent=img.alt;fig.appendChild(big);fig.appendChild(cap);
      box.textContent='';box.appendChild(fig);box.hidden=false;
    });
  });
  box.addEventListener('click',close);
  document.addEventListener('keydown',function(e){if(e.key==='Escape'){close();}});
})();
